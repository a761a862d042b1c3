// The conformance corpus (conformance/README.md) through the Kotlin binding: every scenario of
// conformance/scenarios run by the core's test kit against a TanisClient this program drives as an app would,
// with Kotlin stores, so the JNA calls, the foreign stores and the conversions of every type are what is tested.
// Usage: Conformance <scenarios dir>. Exits 1 naming each scenario that failed.
package dev.tanis.sample

import dev.tanis.client.AppCall
import dev.tanis.client.CallResult
import dev.tanis.client.ClientException
import dev.tanis.client.TanisClient
import dev.tanis.client.TestSubject
import dev.tanis.client.conformanceRun
import dev.tanis.client.storeSignedInSession
import dev.tanis.client.storeWaitingFind
import java.io.File
import kotlin.system.exitProcess

/** A client on stores that outlive it: `restart` makes a new one on the same stores, as an app started again. */
class KotlinSubject : TestSubject {
    private val storage = MemoryStore()
    private val secrets = MemoryStore()
    private var client = TanisClient(storage, secrets)

    override fun start(nowMs: ULong) = client.start(nowMs)
    override fun opened(nowMs: ULong) = client.opened(nowMs)
    override fun received(frame: String, nowMs: ULong) = client.received(frame, nowMs)
    override fun closed(code: UShort, nowMs: ULong) = client.closed(code, nowMs)
    override fun response(id: ULong, status: UShort, body: String, nowMs: ULong) = client.response(id, status, body, nowMs)
    override fun tick(nowMs: ULong) = client.tick(nowMs)
    override fun wakeAt() = client.wakeAt()

    override fun call(call: AppCall, nowMs: ULong): CallResult =
        try {
            when (call) {
                is AppCall.Find -> CallResult(null, client.find(call.kind, nowMs), null)
                is AppCall.Send -> client.send(call.text, nowMs).let { CallResult(it.clientMsgId, it.actions, null) }
                is AppCall.Leave -> CallResult(null, client.leave(nowMs), null)
                is AppCall.HangUp -> CallResult(null, client.hangUp(nowMs), null)
                is AppCall.Report -> CallResult(null, client.report(call.reason, call.seqs, nowMs), null)
            }
        } catch (e: ClientException) {
            // The refusal's code, as every SDK names it.
            CallResult(null, emptyList(), e.message)
        }

    override fun restart() {
        client.close()
        client = TanisClient(storage, secrets)
    }

    override fun storeSession(pair: String) {
        storeSignedInSession(secrets, pair)
        restart()
    }

    override fun storeFind(kind: String, secret: String) {
        storeWaitingFind(storage, secrets, kind, secret)
        restart()
    }
}

fun main(args: Array<String>) {
    val files = File(args[0]).listFiles { f -> f.name.endsWith(".json") }!!.sortedBy { it.name }
    val failures = files.mapNotNull { file ->
        conformanceRun(file.readText(), KotlinSubject())?.let { "${file.name}: $it" }
    }
    failures.forEach { System.err.println(it) }
    println("Kotlin binding: ${files.size - failures.size} of ${files.size} scenarios passed")
    if (failures.isNotEmpty() || files.size < 24) exitProcess(1)
}
