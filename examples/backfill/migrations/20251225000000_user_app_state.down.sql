drop table user_app_state;
