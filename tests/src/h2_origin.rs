//! An HTTP/2 cleartext (h2c, prior knowledge) origin on 127.0.0.1 that counts the TCP
//! connections it accepted, the requests it received and the most streams it had open at once.
//! Every request is answered `200` with the body `h2-origin` after `delay`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[derive(Default)]
struct Counts {
    connections: AtomicUsize,
    requests: AtomicUsize,
    open: AtomicUsize,
    most_open: AtomicUsize,
}

/// A running h2c origin; stops when dropped.
pub struct H2Origin {
    /// Its address.
    pub addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl H2Origin {
    /// Start an origin answering each request after `delay`.
    pub fn start(delay: Duration) -> H2Origin {
        let counts = Arc::new(Counts::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let thread_counts = counts.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                bound_tx.send(listener.local_addr().unwrap()).unwrap();
                let accept = async {
                    while let Ok((stream, _)) = listener.accept().await {
                        thread_counts.connections.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(serve(stream, thread_counts.clone(), delay));
                    }
                };
                tokio::select! { _ = accept => {}, _ = stopped => {} }
            });
            runtime.shutdown_background();
        });
        H2Origin {
            addr: bound_rx.recv().unwrap(),
            counts,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.counts.connections.load(Ordering::SeqCst)
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.counts.requests.load(Ordering::SeqCst)
    }

    /// The most requests that were open at the same time.
    pub fn most_concurrent(&self) -> usize {
        self.counts.most_open.load(Ordering::SeqCst)
    }
}

impl Drop for H2Origin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(stream: tokio::net::TcpStream, counts: Arc<Counts>, delay: Duration) {
    let Ok(mut connection) = h2::server::handshake(stream).await else {
        return;
    };
    while let Some(Ok((request, mut respond))) = connection.accept().await {
        let counts = counts.clone();
        tokio::spawn(async move {
            counts.requests.fetch_add(1, Ordering::SeqCst);
            let open = counts.open.fetch_add(1, Ordering::SeqCst) + 1;
            counts.most_open.fetch_max(open, Ordering::SeqCst);
            let mut body = request.into_body();
            while let Some(Ok(chunk)) = body.data().await {
                let _ = body.flow_control().release_capacity(chunk.len());
            }
            tokio::time::sleep(delay).await;
            let response = http::Response::builder()
                .status(200)
                .header("content-length", "9")
                .body(())
                .unwrap();
            if let Ok(mut send) = respond.send_response(response, false) {
                let _ = send.send_data(bytes::Bytes::from_static(b"h2-origin"), true);
            }
            counts.open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}
