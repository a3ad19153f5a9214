"""What the provider's tests share: a job spec, a fake task instance, an in-memory task state store."""
