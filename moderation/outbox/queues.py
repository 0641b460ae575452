"""Queue and task names, said once: what the outbox sends and the workers consume."""

INFERENCE_QUEUE = "inference"
BACKTEST_QUEUE = "backtest"
WEBHOOKS_QUEUE = "webhooks"
MAINTENANCE_QUEUE = "maintenance"
MODEL_QUEUES = (INFERENCE_QUEUE, BACKTEST_QUEUE)  # workers consuming these load the model

MODERATE_TASK = "inference.moderate"
BACKTEST_TASK = "backtest.run"
DELIVER_TASK = "webhooks.deliver"
SWEEP_TASK = "maintenance.sweep"
PURGE_TASK = "maintenance.purge_images"
