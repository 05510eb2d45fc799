// Every lint rule, one per file in this folder. Adding a rule: write rules/<id>.cpp
// defining `const Rule& rule_<name>()`, add it here and to src/CMakeLists.txt; its cases
// run in tests/lint_rules_test.cc.
#pragma once

#define BELAY_LINT_RULES(X)              \
  X(create_index_non_concurrently)       \
  X(drop_index_non_concurrently)         \
  X(reindex_non_concurrently)            \
  X(concurrently_in_transaction)         \
  X(constraint_without_not_valid)        \
  X(validate_in_same_transaction)        \
  X(set_not_null_without_check)          \
  X(column_type_rewrite)                 \
  X(add_column_rewrite)                  \
  X(unique_without_using_index)          \
  X(refresh_matview_non_concurrently)    \
  X(missing_lock_timeout)                \
  X(locks_on_several_tables)             \
  X(enum_add_value_in_transaction)       \
  X(table_rewrite_command)               \
  X(drop_table)                          \
  X(drop_column)                         \
  X(drop_schema)                         \
  X(rename_column)                       \
  X(rename_table)                        \
  X(add_not_null_column_without_default) \
  X(column_type_change)                  \
  X(truncate)                            \
  X(mutation_without_where)              \
  X(create_without_if_not_exists)        \
  X(drop_without_if_exists)              \
  X(transaction_control_in_migration)    \
  X(syntax_error)                        \
  X(unused_ignore)                       \
  X(rls_not_enabled)                     \
  X(policy_without_rls)                  \
  X(rls_enabled_no_policy)               \
  X(policy_always_true)                  \
  X(policy_per_row_auth_call)            \
  X(policy_user_metadata)                \
  X(view_without_security_invoker)       \
  X(auth_users_exposed)                  \
  X(security_definer_search_path)        \
  X(security_definer_executable)         \
  X(grant_to_anon)                       \
  X(prefer_timestamptz)                  \
  X(prefer_text)                         \
  X(prefer_bigint_pk)                    \
  X(prefer_identity)                     \
  X(prefer_jsonb)                        \
  X(existing_rows_may_violate)
