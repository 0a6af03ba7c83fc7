//! Wake-ups from the shared database: every append to a PostgreSQL journal notifies
//! `crm_journal` with `<business>:<position>` at commit, and this listener rings that
//! business's timekeeper and deliverer, so an effect queued through another app server
//! goes out now rather than at the deliverer's next look. Only a hint: a notification
//! lost while the connection was down costs latency (each loop still looks at least
//! once a minute), never data — the engines catch up from the journal itself.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::AsyncMessage;

use crate::hub::Hub;

/// Listens on `url` until the process stops, connecting again after a failure.
pub async fn listen(url: String, hub: Arc<Hub>) {
    loop {
        if let Err(reason) = listen_once(&url, &hub).await {
            tracing::warn!(%reason, "the journal's notifications are unavailable; listening again in 1 s");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen_once(url: &str, hub: &Arc<Hub>) -> Result<(), String> {
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|err| err.to_string())?;
    let (sender, mut notified) = tokio::sync::mpsc::unbounded_channel();
    // The connection is driven here; its notifications go to the loop below.
    let driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(notification)) => {
                    let _ = sender.send(notification.payload().to_string());
                }
                Ok(_) => {}
                Err(err) => return err.to_string(),
            }
        }
        "the connection closed".to_string()
    });
    client
        .batch_execute(&format!("LISTEN {}", crm_store_postgres::NOTIFY_CHANNEL))
        .await
        .map_err(|err| err.to_string())?;
    tracing::info!("listening for the journal's notifications");
    while let Some(payload) = notified.recv().await {
        let business = payload
            .rsplit_once(':')
            .map_or(payload.as_str(), |(name, _)| name);
        if let Some(tenant) = hub.tenant(business) {
            tenant.changed();
        }
    }
    drop(client);
    Err(driver.await.unwrap_or_else(|err| err.to_string()))
}
