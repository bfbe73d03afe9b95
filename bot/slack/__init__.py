"""The Slack transport: Bolt listeners (``app``) over the core; see ``build_slack_app``."""
