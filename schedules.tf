# --- schedules ---------------------------------------------------------------------------
# Recurring and one-off tasks (EventBridge Scheduler -> the queue), and the schedule group and
# role the SDK's delayed sends (TaskQueue.send_at / send_after) use. See modules/schedules.

module "schedules" {
  source = "./modules/schedules"

  name   = var.name
  tags   = var.tags
  create = var.create_schedule_group

  queue_arn   = module.queue.queue_static_arn
  queue_url   = module.queue.queue_url
  kms_key_arn = module.queue.kms_key_arn

  schedules                = var.schedules
  dead_letter_arn          = var.schedule_dead_letter_arn
  create_dead_letter_queue = var.create_schedule_dead_letter_queue
}
