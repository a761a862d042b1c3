//! A socket's outbound queue: the frames for one socket, queued from anywhere on the node and written by the
//! socket's task. Bounded; room can be reserved ahead for an answer ([`Slot`]); closed by its reader, after which
//! what is queued and what was reserved can still be read, and nothing new is accepted.
//!
//! Not tokio's mpsc channel: that allocates its shared state and a first block of 32 slots when it is made,
//! 1 KiB that every idle socket held (BENCHMARKS.md, "Idle sockets: what still held memory"). An idle queue here is a
//! few words; its storage is allocated when the first frame comes. Frames go one way, to one reader, so the queue
//! is a `VecDeque` under a lock that is held only to push or pop.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

use super::Encoded;

/// Makes a queue that holds at most `capacity` frames, counting the reserved ones.
pub fn queue(capacity: usize) -> (Outbound, Frames) {
    let shared =
        Arc::new(Shared { state: Mutex::default(), reader: AtomicWaker::new(), room: Notify::new(), capacity });
    (Outbound(shared.clone()), Frames(shared))
}

/// The sending side, held by whatever answers or reaches the socket.
#[derive(Debug, Clone)]
pub struct Outbound(Arc<Shared>);

/// The reading side, held by the socket's task. Dropping it closes the queue.
#[derive(Debug)]
pub struct Frames(Arc<Shared>);

/// Room for one frame, taken by [`Outbound::reserve`]: sending into it never waits and never finds the queue full,
/// even once it is closed. Dropped unsent, the room is given back.
#[derive(Debug)]
pub struct Slot(Option<Arc<Shared>>);

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `capacity` frames are queued or reserved: the reader is not keeping up.
    Full,
    /// The reader closed the queue: the socket is closing.
    Closed,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// The reader's task, woken when a frame is queued or the last slot is given back after the queue closed. One
    /// reader, so one waker: registering it again from the same task is two atomic operations, where a `Notify`
    /// made a waiter and took its list's lock to add it and again to remove it, at every turn of the socket's loop.
    reader: AtomicWaker,
    /// Wakes a sender waiting for room (one per frame read), or all of them when the queue closes.
    room: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Encoded>,
    /// Slots taken and not yet sent or given back.
    reserved: usize,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock still guards consistent state.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn has_room(&self, capacity: usize) -> bool {
        self.frames.len() + self.reserved < capacity
    }

    /// Whether the reader has seen everything it ever will.
    fn finished(&self) -> bool {
        self.closed && self.reserved == 0 && self.frames.is_empty()
    }
}

impl Outbound {
    /// Queues a frame without waiting.
    pub fn try_send(&self, frame: Encoded) -> Result<(), Refused> {
        {
            let mut state = self.0.lock();
            if state.closed {
                return Err(Refused::Closed);
            }
            if !state.has_room(self.0.capacity) {
                return Err(Refused::Full);
            }
            state.frames.push_back(frame);
        }
        self.0.reader.wake();
        Ok(())
    }

    /// Queues a frame, waiting for room; `Err` once the queue is closed.
    pub async fn send(&self, frame: Encoded) -> Result<(), Refused> {
        self.reserve().await?.send(frame);
        Ok(())
    }

    /// Takes room for one frame if there is some now; `Err(Full)` when there is none.
    pub fn try_reserve(&self) -> Result<Slot, Refused> {
        let mut state = self.0.lock();
        if state.closed {
            return Err(Refused::Closed);
        }
        if !state.has_room(self.0.capacity) {
            return Err(Refused::Full);
        }
        state.reserved += 1;
        Ok(Slot(Some(self.0.clone())))
    }

    /// Takes room for one frame, waiting for it; `Err` once the queue is closed.
    pub async fn reserve(&self) -> Result<Slot, Refused> {
        // Most often there is room: taken without registering a waiter (two locks of the waiters' list, per
        // message on the relay's path).
        match self.try_reserve() {
            Err(Refused::Full) => {}
            taken_or_closed => return taken_or_closed,
        }
        loop {
            // Registered before the state is read, so room made (or a close) after the read still wakes it.
            let room = self.0.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut state = self.0.lock();
                if state.closed {
                    return Err(Refused::Closed);
                }
                if state.has_room(self.0.capacity) {
                    state.reserved += 1;
                    return Ok(Slot(Some(self.0.clone())));
                }
            }
            room.await;
        }
    }
}

impl Slot {
    /// Queues the frame in the room taken for it.
    pub fn send(mut self, frame: Encoded) {
        let shared = self.0.take().expect("a slot is sent once");
        {
            let mut state = shared.lock();
            state.reserved -= 1;
            state.frames.push_back(frame);
        }
        shared.reader.wake();
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(shared) = self.0.take() else { return };
        let finished = {
            let mut state = shared.lock();
            state.reserved -= 1;
            state.finished()
        };
        shared.room.notify_one();
        if finished {
            shared.reader.wake();
        }
    }
}

impl Frames {
    /// The next frame, waiting for one; `None` once the queue is closed, empty, and no slot is outstanding.
    /// While it is open, this waits: the socket's own handle is a sender for as long as its task runs.
    pub async fn recv(&mut self) -> Option<Encoded> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Encoded>> {
        // Registered before the queue is read: a frame queued after the read wakes this task.
        self.0.reader.register(cx.waker());
        let mut state = self.0.lock();
        match state.frames.pop_front() {
            Some(frame) => {
                drop(state);
                self.0.room.notify_one();
                Poll::Ready(Some(frame))
            }
            None if state.finished() => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Option<Encoded> {
        let frame = self.0.lock().frames.pop_front();
        if frame.is_some() {
            self.0.room.notify_one();
        }
        frame
    }

    /// Accepts nothing more: senders waiting for room are refused, slots already taken may still be sent, and
    /// what is queued stays readable.
    pub fn close(&mut self) {
        self.0.lock().closed = true;
        self.0.room.notify_waiters();
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        self.close();
        // No one will read them: the frames go now, not when the last sender goes.
        self.0.lock().frames = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;

    fn frame(text: &str) -> Encoded {
        text.into()
    }

    #[tokio::test]
    async fn frames_are_read_in_order_and_the_bound_counts_reserved_room() {
        let (tx, mut rx) = queue(3);
        tx.try_send(frame("a")).unwrap();
        let slot = tx.reserve().await.unwrap();
        tx.try_send(frame("b")).unwrap();
        assert_eq!(tx.try_send(frame("c")), Err(Refused::Full), "two queued and one reserved fill three");
        slot.send(frame("answer"));
        let read: Vec<_> = std::iter::from_fn(|| rx.try_recv()).collect();
        assert_eq!(read, [frame("a"), frame("b"), frame("answer")]);
        assert!(rx.recv().now_or_never().is_none(), "an open, empty queue waits");
    }

    #[tokio::test]
    async fn a_sender_waits_for_room_and_reading_makes_it() {
        let (tx, mut rx) = queue(1);
        tx.try_send(frame("a")).unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(frame("b")).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no room yet");
        assert_eq!(rx.recv().await, Some(frame("a")));
        waiting.await.unwrap().unwrap();
        assert_eq!(rx.recv().await, Some(frame("b")));
    }

    #[tokio::test]
    async fn a_waiting_reader_is_woken_by_a_frame_after_an_earlier_wait_was_dropped() {
        let (tx, mut rx) = queue(2);
        // A wait begun and dropped, as the socket's loop does when another branch of its select! wins.
        assert!(rx.recv().now_or_never().is_none());
        let reading = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        assert!(!reading.is_finished(), "an empty queue waits");
        tx.try_send(frame("a")).unwrap();
        let read = tokio::time::timeout(Duration::from_secs(10), reading).await.expect("the frame woke the reader");
        assert_eq!(read.unwrap(), Some(frame("a")));
    }

    #[tokio::test]
    async fn a_dropped_slot_gives_its_room_back() {
        let (tx, _rx) = queue(1);
        let slot = tx.reserve().await.unwrap();
        assert_eq!(tx.try_send(frame("a")), Err(Refused::Full));
        drop(slot);
        tx.try_send(frame("a")).unwrap();
    }

    #[tokio::test]
    async fn closing_refuses_new_frames_and_waiting_senders_but_keeps_queued_and_reserved_ones() {
        let (tx, mut rx) = queue(2);
        tx.try_send(frame("a")).unwrap();
        let slot = tx.reserve().await.unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(frame("never")).await }
        });
        tokio::task::yield_now().await;
        rx.close();
        assert_eq!(waiting.await.unwrap(), Err(Refused::Closed), "a sender waiting for room is refused");
        assert_eq!(tx.try_send(frame("b")), Err(Refused::Closed));
        assert!(matches!(tx.reserve().await, Err(Refused::Closed)));
        assert_eq!(rx.recv().await, Some(frame("a")));
        // The slot taken before the close is still owed to the reader, which waits for it.
        let reading = tokio::spawn(async move { (rx.recv().await, rx.recv().await) });
        tokio::task::yield_now().await;
        assert!(!reading.is_finished(), "the reader waits for the outstanding slot");
        slot.send(frame("answer"));
        assert_eq!(reading.await.unwrap(), (Some(frame("answer")), None));
    }

    #[tokio::test]
    async fn a_slot_given_back_after_the_close_ends_the_reading() {
        let (tx, mut rx) = queue(2);
        let slot = tx.reserve().await.unwrap();
        rx.close();
        let reading = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        assert!(!reading.is_finished());
        drop(slot);
        assert_eq!(reading.await.unwrap(), None);
    }

    #[tokio::test]
    async fn dropping_the_reader_refuses_senders() {
        let (tx, rx) = queue(1);
        tx.try_send(frame("a")).unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(frame("b")).await }
        });
        tokio::task::yield_now().await;
        drop(rx);
        assert_eq!(waiting.await.unwrap(), Err(Refused::Closed));
        assert_eq!(tx.try_send(frame("c")), Err(Refused::Closed));
    }
}
