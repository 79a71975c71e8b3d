//! Desktop notifications through the freedesktop notification service (D-Bus method
//! `org.freedesktop.Notifications.Notify`), for an analyst who runs `watchpost serve` on
//! their own workstation.
//!
//! Best effort by nature: a server has no session bus, a locked screen has no one looking.
//! The channel is built only with the `desktop-notify` feature (zbus, pure Rust); without a
//! session bus a send fails at once with a message that says so, the attempt is recorded,
//! and the notice goes to the channel's fallback. Critical alerts use urgency `critical`
//! (the notice stays until dismissed); the rest `normal`.

use crate::channel::Channel;
use crate::template::Template;
use std::sync::Arc;

#[cfg(feature = "desktop-notify")]
mod freedesktop {
    use crate::channel::{Channel, SendError};
    use crate::render::{clip, headline, text_body, top_severity};
    use crate::template::{Template, text_or};
    use async_trait::async_trait;
    use notify_rust::{Notification as Popup, Timeout, Urgency};
    use std::sync::Arc;
    use watchpost_alert::Notification;
    use watchpost_core::Severity;

    /// Longest body shown; notification servers cut far shorter.
    const MAX_BODY: usize = 2000;

    pub struct Desktop {
        pub template: Option<Arc<Template>>,
    }

    #[async_trait]
    impl Channel for Desktop {
        fn kind(&self) -> &'static str {
            "desktop"
        }

        async fn send(&self, n: &Notification) -> Result<String, SendError> {
            if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
                && std::env::var_os("XDG_RUNTIME_DIR").is_none()
            {
                return Err(SendError::permanent(
                    "no desktop session: neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR \
                     is set for the server's user"
                        .into(),
                ));
            }
            let body = text_or(self.template.as_deref(), n, || text_body(n))?;
            let urgency = match top_severity(n) {
                Severity::Critical => Urgency::Critical,
                _ => Urgency::Normal,
            };
            let shown = Popup::new()
                .appname("Watchpost")
                .summary(&clip(&headline(n), 200))
                .body(&clip(&body, MAX_BODY))
                .urgency(urgency)
                .timeout(if urgency == Urgency::Critical {
                    Timeout::Never
                } else {
                    Timeout::Default
                })
                .show_async()
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "desktop notification failed: is there a session bus and a notification daemon?");
                    SendError::permanent(format!(
                        "no desktop notification service reachable on the session bus: {e}"
                    ))
                })?;
            Ok(format!("shown as desktop notification {}", shown.id()))
        }
    }
}

/// The desktop channel, or why this build has none.
pub fn build(template: Option<Arc<Template>>) -> Result<Arc<dyn Channel>, String> {
    #[cfg(feature = "desktop-notify")]
    {
        Ok(Arc::new(freedesktop::Desktop { template }))
    }
    #[cfg(not(feature = "desktop-notify"))]
    {
        let _ = template;
        Err("desktop notifications are not in this build: rebuild with \
             `cargo build --release --features watchpost-notify/desktop-notify`"
            .into())
    }
}
