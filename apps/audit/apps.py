from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Log-ins happen inside django.contrib.auth: its signals are the only place to see them.
        # The receivers are thin adapters that call audit_record (the house rule is about our own writes).
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from apps.audit import signals

        user_logged_in.connect(signals.on_login, dispatch_uid="audit.login")
        user_logged_out.connect(signals.on_logout, dispatch_uid="audit.logout")
        user_login_failed.connect(signals.on_login_failed, dispatch_uid="audit.login_failed")
