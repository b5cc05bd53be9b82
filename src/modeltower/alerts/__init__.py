"""Alerting: rules evaluated on a schedule, alert states, silences and notifications.

``rules`` parses and validates rules; ``state`` is the pure state machine; ``evaluator`` runs the
rules against the query services; ``channels`` render notifications for Slack, PagerDuty and
signed webhooks; ``delivery`` drains the persisted outbox with retries.
"""
