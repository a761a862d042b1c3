// A console app on the tanis client core: the walkthrough of docs/sdk-native.md, compiled and run by
// scripts/native-test against a real server (tests/native/walkthrough.test.js drives it through stdin and stdout).
//
// The core does no I/O. This host gives it a WebSocket (java.net.http: on Android, OkHttp's is the same shape), an
// HTTP client for the REST calls it asks for, a clock, and stores; it runs every call on one thread (the loop in
// `run`), so the core never sees two calls at once; and it prints the core's events. An Android app does the same
// with a coroutine on a single-threaded dispatcher and the events going to its view model.
//
// Commands, one per line on stdin:  register <phone> <password> <alias> | signin <phone> <password> | find <kind> |
//   send <text> | report <reason> <seq,seq,...> | offer <sdp> | answer <sdp> | ice <candidate> | connected | hangup |
//   leave | quit
// Events, one per line on stdout: the event's name and fields, e.g. `message 7 3 selam`.
package dev.tanis.sample

import dev.tanis.client.Action
import dev.tanis.client.CallMeasured
import dev.tanis.client.CallSignal
import dev.tanis.client.ClientEvent
import dev.tanis.client.ClientException
import dev.tanis.client.HttpRequest
import dev.tanis.client.TanisClient
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest as JavaRequest
import java.net.http.HttpResponse
import java.net.http.WebSocket
import java.time.Duration
import java.util.concurrent.CompletionStage
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

class ChatApp(private val baseUrl: String) {
    private val client = TanisClient(MemoryStore(), MemoryStore())
    private val http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()
    /** Everything that touches the core runs here, in order, on the loop's thread. */
    private val tasks = LinkedBlockingQueue<() -> Unit>()
    private var socket: WebSocket? = null
    /** Which socket is current: events of one that was replaced are dropped. */
    private var generation = 0
    private var running = true

    private fun now(): ULong = System.currentTimeMillis().toULong()

    fun post(task: () -> Unit) = tasks.put(task)

    /** The loop: a task when one comes, or the core's tick when its wake-up time comes first. */
    fun run() {
        act(client.start(now()))
        while (running) {
            val wait = client.wakeAt()?.let { (it.toLong() - now().toLong()).coerceAtLeast(0) } ?: 1_000
            val task = tasks.poll(wait, TimeUnit.MILLISECONDS)
            if (task != null) task() else act(client.tick(now()))
        }
    }

    /** Does what the core asked for, in order. */
    private fun act(actions: List<Action>) {
        for (action in actions) {
            when (action) {
                is Action.Send -> socket?.sendText(action.frame, true)
                is Action.Connect -> open(action.token)
                is Action.Disconnect -> socket?.sendClose(WebSocket.NORMAL_CLOSURE, "")
                is Action.Request -> request(action.request)
                is Action.Notify -> show(action.event)
            }
        }
    }

    private fun request(r: HttpRequest) {
        val builder = JavaRequest.newBuilder(URI.create(baseUrl + r.path)).timeout(Duration.ofSeconds(10))
            .header("content-type", "application/json")
            .method(r.method, r.body?.let { JavaRequest.BodyPublishers.ofString(it) } ?: JavaRequest.BodyPublishers.noBody())
        r.bearer?.let { builder.header("authorization", "Bearer $it") }
        http.sendAsync(builder.build(), HttpResponse.BodyHandlers.ofString()).whenComplete { response, error ->
            // Status 0: the request never reached the server (the core retries a refresh after a backoff).
            val status = if (error == null) response.statusCode().toUShort() else 0u
            val body = response?.body() ?: ""
            post { act(client.response(r.id, status, body, now())) }
        }
    }

    private fun open(token: String) {
        val mine = ++generation
        val ws = baseUrl.replaceFirst("http", "ws") + "/v1/ws"
        val listener = object : WebSocket.Listener {
            private val text = StringBuilder()
            override fun onOpen(webSocket: WebSocket) {
                webSocket.request(1)
                post { if (mine == generation) { socket = webSocket; act(client.opened(now())) } }
            }
            override fun onText(webSocket: WebSocket, data: CharSequence, last: Boolean): CompletionStage<*>? {
                text.append(data)
                if (last) {
                    val frame = text.toString()
                    text.setLength(0)
                    post { if (mine == generation) act(client.received(frame, now())) }
                }
                webSocket.request(1)
                return null
            }
            override fun onClose(webSocket: WebSocket, statusCode: Int, reason: String): CompletionStage<*>? {
                post { if (mine == generation) { socket = null; act(client.closed(statusCode.toUShort(), now())) } }
                return null
            }
            override fun onError(webSocket: WebSocket, error: Throwable) {
                post { if (mine == generation) { socket = null; act(client.closed(1006u, now())) } }
            }
        }
        // The token rides in a subprotocol beside the version (docs/protocol.md section 2): a browser cannot set
        // headers on a WebSocket, so every client does it this way.
        http.newWebSocketBuilder().subprotocols("tanis.v2", "tanis.auth.$token")
            .buildAsync(URI.create(ws), listener)
            .whenComplete { _, error ->
                if (error != null) post { if (mine == generation) act(client.closed(1006u, now())) }
            }
    }

    private fun show(event: ClientEvent) {
        val line = when (event) {
            is ClientEvent.SignedIn -> "signed_in ${event.handle}"
            is ClientEvent.SignInFailed -> "sign_in_failed ${event.code}"
            is ClientEvent.SignedOut -> "signed_out ${event.code}"
            is ClientEvent.Banned -> "banned"
            is ClientEvent.Hello -> "hello ${event.handle}"
            is ClientEvent.Matched -> "matched ${event.matchId} ${event.peer} ${event.initiator}"
            is ClientEvent.Message -> "message ${event.matchId} ${event.seq} ${event.text}"
            is ClientEvent.Unreadable -> "unreadable ${event.matchId} ${event.seq}"
            is ClientEvent.OwnMessage -> "own_message ${event.matchId} ${event.seq} ${event.text}"
            is ClientEvent.MatchedElsewhere -> "matched_elsewhere ${event.matchId} ${event.peer}"
            is ClientEvent.ContactAdded -> "contact_added ${event.matchId} ${event.peer}"
            is ClientEvent.TakenOver -> "taken_over ${event.matchId} ${event.sessionId}"
            is ClientEvent.PeerHungUp -> "peer_hung_up ${event.matchId}"
            // For the app's WebRTC stack: PeerConnection.setRemoteDescription / addIceCandidate.
            is ClientEvent.CallSignal -> "call_signal ${event.matchId} ${event.signal::class.simpleName}"
            is ClientEvent.Sent -> "sent ${event.matchId} ${event.clientMsgId} ${event.seq}"
            is ClientEvent.Failed -> "failed ${event.matchId} ${event.clientMsgId} ${event.code}"
            is ClientEvent.Ended -> "ended ${event.matchId} ${event.reason}"
            is ClientEvent.Reported -> "reported"
            is ClientEvent.Refused -> "refused ${event.code}"
            is ClientEvent.Closed -> "closed ${event.code}"
        }
        println(line)
        System.out.flush()
    }

    /** What follows the command's name, an SDP's escaped line breaks restored. */
    private fun rest(line: String) = line.trim().substringAfter(' ').replace("\\r\\n", "\r\n")

    /** One command line of the app's user. */
    fun command(line: String) {
        val words = line.trim().split(" ", limit = 4)
        try {
            when (words[0]) {
                "register" -> act(client.register(words[1], words[2], words[3], 1990u, true, now()))
                "signin" -> act(client.signIn(words[1], words[2], now()))
                "find" -> act(client.find(words[1], now()))
                "send" -> act(client.send(line.trim().removePrefix("send "), now()).actions)
                "report" -> act(client.report(words[1], words[2].split(",").map { it.toLong() }, now()))
                "leave" -> act(client.leave(now()))
                // A video match's call. The app's WebRTC stack makes these (PeerConnection.createOffer, onIceCandidate,
                // onConnectionChange); here the command line stands in for it, an SDP's line breaks written `\r\n`.
                "offer" -> act(client.signal(CallSignal.Offer(rest(line)), now()))
                "answer" -> act(client.signal(CallSignal.Answer(rest(line)), now()))
                "ice" -> act(client.signal(CallSignal.Ice(rest(line), "0", 0u), now()))
                "connected" -> act(client.callConnected(CallMeasured(null, null, null), now()))
                "hangup" -> act(client.hangUp(now()))
                "quit" -> running = false
                else -> println("unknown ${words[0]}")
            }
        } catch (e: ClientException) {
            println("error $e")
        }
        System.out.flush()
    }
}

fun main(args: Array<String>) {
    val app = ChatApp(args[0])
    thread(isDaemon = true) {
        generateSequence(::readLine).forEach { line -> app.post { app.command(line) } }
        app.post { app.command("quit") }
    }
    app.run()
}
