// Runs the shared scenario files (tests/scenarios/*.json) through the Kotlin binding.
package dev.crmcore.tests

import com.google.gson.JsonElement
import com.google.gson.JsonObject
import com.google.gson.JsonParser
import dev.crmcore.Crm
import dev.crmcore.CrmException
import dev.crmcore.CrmReplica
import java.time.Instant
import java.io.File

// Objects by key (extra keys allowed), arrays element-wise with equal length, scalars equal.
fun contains(expected: JsonElement, actual: JsonElement?): Boolean = when {
    actual == null -> false
    expected.isJsonObject -> actual.isJsonObject &&
        expected.asJsonObject.entrySet().all { (key, value) -> contains(value, actual.asJsonObject.get(key)) }
    expected.isJsonArray -> actual.isJsonArray && expected.asJsonArray.size() == actual.asJsonArray.size() &&
        expected.asJsonArray.zip(actual.asJsonArray).all { (e, a) -> contains(e, a) }
    else -> expected == actual
}

private fun CrmException.code(): String = when (this) {
    is CrmException.Validation -> code
    is CrmException.Malformed -> code
    is CrmException.TooLarge -> code
    is CrmException.NotFound -> code
    is CrmException.PermissionDenied -> code
    is CrmException.Conflict -> code
    is CrmException.CurrencyMismatch -> code
    is CrmException.Overflow -> code
    is CrmException.Storage -> code
}

private fun CrmException.reason(): String = when (this) {
    is CrmException.Validation -> reason
    is CrmException.Malformed -> reason
    is CrmException.TooLarge -> reason
    is CrmException.NotFound -> reason
    is CrmException.PermissionDenied -> reason
    is CrmException.Conflict -> reason
    is CrmException.CurrencyMismatch -> reason
    is CrmException.Overflow -> reason
    is CrmException.Storage -> reason
}

// A `pull` step: every canonical event after the replica's cursor, then what it still
// waits for — `{cursor, pending, rejected}` as JSON.
private fun pull(crm: Crm, replica: CrmReplica, actor: String): String {
    while (true) {
        val batch = crm.pull(actor, replica.cursor())
        replica.receivePull(batch)
        if (!JsonParser.parseString(batch).asJsonObject["more"].asBoolean) break
    }
    val result = JsonObject()
    result.addProperty("cursor", replica.cursor().toLong())
    result.add("pending", JsonParser.parseString(replica.pendingJson()))
    result.add("rejected", JsonParser.parseString(replica.rejectedJson()))
    return result.toString()
}

private fun runScenario(file: File) {
    val scenario = JsonParser.parseString(file.readText()).asJsonObject
    val region = scenario["options"].asJsonObject["default_region"]?.asString
    // The raw JSON entry points, so every language sends the same bytes to the core.
    val depth = scenario["options"].asJsonObject["max_cascade_depth"]?.asInt?.toUInt()
    val events = scenario["options"].asJsonObject["max_reaction_events"]?.asInt?.toUInt()
    val crm = Crm(scenario["replica"].asLong.toULong(), region, depth, events)
    // Replicas of it by name (docs/sync.md), for scenarios that sync.
    val replicas = scenario["replicas"]?.asJsonObject?.entrySet()
        ?.associate { (name, id) -> name to CrmReplica(id.asLong.toULong(), region) } ?: mapOf()
    var now = ""
    scenario["steps"].asJsonArray.forEachIndexed { index, element ->
        val step = element.asJsonObject
        val here = "${file.name} step $index"
        step["at"]?.let { now = it.asString }
        val actor = step["actor"].asString
        val expect = step["expect"]?.asJsonObject ?: JsonObject()
        val output = try {
            when {
                step.has("push") -> {
                    val replica = replicas.getValue(step["push"].asString)
                    crm.push(actor, Instant.parse(now), replica.pushBatch(1000u)).also { replica.receivePushResult(it) }
                }
                step.has("pull") -> pull(crm, replicas.getValue(step["pull"].asString), actor)
                step.has("on") -> {
                    val replica = replicas.getValue(step["on"].asString)
                    when {
                        step.has("discard") -> replica.discard(step["discard"].asLong.toULong())
                        step.has("retry") -> replica.retry(step["retry"].asLong.toULong(), Instant.parse(now))
                        step.has("execute") -> replica.executeJson(actor, Instant.parse(now), step["execute"].toString())
                        else -> replica.queryJson(actor, Instant.parse(now), step["query"].toString())
                    }
                }
                step.has("batch") -> crm.executeBatchJson(actor, now, step["batch"].toString(), step["idempotency_key"]?.asString)
                step.has("execute_raw") -> crm.executeJson(actor, now, step["execute_raw"].asString)
                step.has("execute") -> crm.executeJson(actor, now, step["execute"].toString())
                else -> crm.queryJson(actor, now, step["query"].toString())
            }
        } catch (error: CrmException) {
            val wanted = expect["error"]?.asJsonObject ?: throw AssertionError("$here: unexpected ${error.code()}: ${error.reason()}")
            expectEqual(wanted["code"].asString, error.code(), here)
            val part = wanted["contains"]?.asString ?: ""
            expect(error.reason().contains(part)) { "$here: ${error.reason()} does not contain $part" }
            return@forEachIndexed
        }
        expect(!expect.has("error")) { "$here: expected ${expect["error"]}, got success" }
        val result = JsonParser.parseString(output)
        expect["created"]?.let { expectEqual(it, result.asJsonObject["created"], here) }
        expect["events"]?.let { types ->
            val actual = result.asJsonObject["events"].asJsonArray.map { it.asJsonObject["event"].asJsonObject["type"].asString }
            expectEqual(types.asJsonArray.map { it.asString }, actual, here)
        }
        expect["result"]?.let { wanted -> expect(contains(wanted, result)) { "$here: expected $wanted, got $result" } }
    }
}

fun scenarioChecks(): List<Check> {
    val dir = File(System.getProperty("crm.scenarios") ?: "tests/scenarios")
    val files = dir.listFiles { file -> file.name.endsWith(".json") }?.sortedBy { it.name } ?: listOf()
    return listOf(Check("the scenarios are found") { expect(files.size >= 3) { "found $files in $dir" } }) +
        files.map { file -> Check("scenario ${file.name}") { runScenario(file) } }
}
