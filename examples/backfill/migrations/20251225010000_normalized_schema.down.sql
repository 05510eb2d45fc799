drop table inbox_items;
drop table "references";
drop table leads;
drop table accounts;
drop table contents;
drop table personas;
drop table orgs;
