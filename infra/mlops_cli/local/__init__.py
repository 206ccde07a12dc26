"""The local cloud: the bundle deployed into moto, with events routed as EventBridge would."""
