output "sdk_config" {
  description = "What the demo's task code and `sqstask` commands read (SQSTASK_CONFIG / --config)."
  value       = module.tasks.sdk_config
}

output "table_name" {
  description = "The task table, scanned by the demo's exactly-once check."
  value       = module.tasks.table_name
}
