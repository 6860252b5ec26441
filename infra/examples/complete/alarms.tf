# Alarms reach someone: every alarm of every module notifies this topic
# (and any topics in var.alarm_actions). Subscribe a mailbox with
# alarm_email (the address must confirm the subscription AWS e-mails it), or
# subscribe a chat or paging integration to the topic outside Terraform.
#
# The topic is not encrypted: CloudWatch alarms cannot publish to a topic
# encrypted with the AWS-managed SNS key, and alarm notifications carry
# metric names and thresholds, not user data.
resource "aws_sns_topic" "alarms" {
  name = "${var.name}-alarms"
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_actions = concat([aws_sns_topic.alarms.arn], var.alarm_actions)
}
