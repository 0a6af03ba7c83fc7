// The Kotlin boundary: names, types (Instant, ULong, records, enums) and sealed exceptions.
package dev.crmcore.tests

import dev.crmcore.*
import java.math.BigDecimal
import java.time.Instant

private val NOW: Instant = Instant.parse("2026-11-27T09:00:00Z")

private class Shop {
    val crm = Crm(5uL, "DE")
    val admin: String = createdId(crm.executeJson("system", NOW.toString(), """{"type":"create_user","name":"Olga","role":"admin"}"""))
    val manager: String = createdId(crm.executeJson(admin, NOW.toString(), """{"type":"create_user","name":"Ivan","role":"manager"}"""))
    val pipeline: String = crm.createPipeline(
        admin, NOW, "Windows",
        listOf(NewStage("New"), NewStage("Measured"), NewStage("Done", StageKind.WON), NewStage("Lost", StageKind.LOST)),
        listOf("Too expensive"),
    )
}

private fun createdId(outcomeJson: String): String =
    com.google.gson.JsonParser.parseString(outcomeJson).asJsonObject["created"].asString

fun bindingChecks(): List<Check> = listOf(
    Check("a file journal survives closing and reopening") {
        val dir = java.nio.file.Files.createTempDirectory("crm-kotlin")
        val path = dir.resolve("shop.sqlite").toString()
        // A path with no journal is an error unless asked to create one.
        expectThrows<CrmException.Storage> { Crm.open(path, 1uL, "DE") }
        val first = Crm.open(path, 1uL, "DE", create = true)
        expectEqual(emptyList<String>(), first.warnings())
        val admin = createdId(first.executeJson("system", NOW.toString(), """{"type":"create_user","name":"Olga","role":"admin"}"""))
        first.createContact(admin, NOW, NewContact("Petra", phones = listOf("030 1234567")))
        first.snapshot()
        val events = first.eventsJson(1uL)
        first.close()
        val again = Crm.open(path, 1uL)
        expectEqual(events, again.eventsJson(1uL))
        expectEqual(2uL, again.lastSeq())
        val copy = dir.resolve("backup.sqlite").toString()
        again.backup(copy)
        val report = com.google.gson.JsonParser.parseString(recoverJournal(copy, dir.resolve("recovered.sqlite").toString())).asJsonObject
        expectEqual(2, report["kept"].asInt)
        val restored = dir.resolve("restored.sqlite").toString()
        expectEqual(2uL, restoreJournal(copy, restored))
        val back = Crm.open(restored, 1uL)
        expectEqual(events, back.eventsJson(1uL))
        back.close()
        expectThrows<CrmException.Conflict> { restoreJournal(copy, restored) }
        expectThrows<CrmException.Storage> { Crm(1uL).backup(copy) }
        val lines = dir.resolve("journal.jsonl").toString()
        expectEqual(2uL, again.exportJsonl(lines))
        val imported = Crm(1uL)
        expectEqual(2uL, imported.importJsonl(lines))
        expectEqual(events, imported.eventsJson(1uL))
        expectThrows<CrmException.Validation> { imported.importJsonl(lines) }
        again.close()
        val replica = Crm.openReadOnly(path, 2uL)
        expectEqual(events, replica.eventsJson(1uL))
        expectThrows<CrmException.Storage> {
            replica.executeJson(admin, NOW.toString(), """{"type":"create_contact","name":"Nobody"}""")
        }
        expectEqual(events, replica.eventsJson(1uL))
        replica.close()
        expectThrows<CrmException.Storage> { Crm.open(dir.resolve("missing/x.sqlite").toString(), 1uL, create = true) }
        dir.toFile().deleteRecursively()
    },
    Check("broken text and absurd counts are refused, nothing stored (hardening)") {
        val shop = Shop()
        val before = shop.crm.lastSeq()
        // A lone surrogate cannot become UTF-8: UniFFI refuses to encode it, so it never
        // reaches the engine as a replacement character.
        expectThrows<java.nio.charset.CharacterCodingException> {
            shop.crm.executeJson(shop.manager, NOW.toString(), "{\"type\":\"create_contact\",\"name\":\"A\uD800\"}")
        }
        expectThrows<CrmException.Malformed> {
            shop.crm.queryJson(shop.manager, NOW.toString(), """{"type":"list_deals","offset":4294967296}""")
        }
        expectThrows<CrmException.TooLarge> {
            shop.crm.queryJson(shop.manager, NOW.toString(), """{"type":"list_deals","limit":1001}""")
        }
        expectThrows<CrmException.PermissionDenied> {
            shop.crm.executeJson(shop.manager, NOW.toString(), """{"type":"receive_form","form":"f","fields":{"phone":"030 1234567"}}""")
        }
        expectEqual(before, shop.crm.lastSeq())
        expectEqual(emptyList<String>(), shop.crm.warnings())
    },
    Check("reports from JSON requests, errors typed") {
        val shop = Shop()
        val deal = createdId(shop.crm.executeJson(shop.manager, NOW.toString(),
            """{"type":"create_deal","title":"Windows","pipeline":"${shop.pipeline}","amount":{"amount":"900.00","currency":"EUR"}}"""))
        // The pipeline's stages follow it: New, Measured, Done (won), Lost.
        val won = "stg-5-" + (shop.pipeline.removePrefix("pip-5-").toInt() + 3)
        shop.crm.executeJson(shop.manager, NOW.toString(), """{"type":"move_deal","id":"$deal","stage":"$won"}""")
        val report = com.google.gson.JsonParser.parseString(
            shop.crm.reportJson(shop.admin, NOW, """{"report":"win_rate"}""")).asJsonObject
        expectEqual("100.0", report["total"].asJsonObject["win_rate"].asString)
        expectEqual("900.00", report["total"].asJsonObject["won_amount"].asJsonObject["EUR"].asString)
        expectThrows<CrmException.Malformed> { shop.crm.reportJson(shop.admin, NOW, """{"report":"pie"}""") }
        val drawing = com.google.gson.JsonParser.parseString(
            shop.crm.chartJson(shop.admin, NOW, """{"report":"win_rate"}""")).asJsonObject
        val svg = javax.xml.parsers.DocumentBuilderFactory.newInstance().newDocumentBuilder()
            .parse(org.xml.sax.InputSource(java.io.StringReader(drawing["svg"].asString)))
        expectEqual("svg", svg.documentElement.tagName)
        expectEqual("Won and lost deals", drawing["chart"].asJsonObject["title"].asString)
        expectThrows<CrmException.Validation> {
            shop.crm.reportJson(shop.admin, NOW, """{"report":"revenue","from":"2026-12-01","to":"2026-11-01"}""")
        }
    },
    Check("rules, timers and the outbox") {
        val shop = Shop()
        val rules = """{"type":"define_rules","rules":[
            {"key":"call","when":{"type":"record_created","record":"contact"},
             "then":[{"type":"create_task","title":"Call {{ contact.name }}","kind":"call","due_in":"15m"}]},
            {"key":"late","when":{"type":"task_overdue"},"then":[{"type":"notify","to":"assignee","text":"Late: {{ task.title }}"}]}]}"""
        shop.crm.executeJson(shop.admin, NOW.toString(), rules)
        shop.crm.createContact(shop.manager, NOW, NewContact("Anna"))
        expectEqual(NOW.plusSeconds(900), shop.crm.nextWakeup())
        val fired = com.google.gson.JsonParser.parseString(shop.crm.tick(NOW.plusSeconds(3600))).asJsonObject
        expectEqual(
            listOf("task_overdue", "rules_evaluated", "effect_queued"),
            fired["events"].asJsonArray.map { it.asJsonObject["event"].asJsonObject["type"].asString },
        )
        val effects = com.google.gson.JsonParser.parseString(shop.crm.drainOutboxJson()).asJsonArray
        expectEqual("Late: Call Anna", effects[0].asJsonObject["text"].asString)
        // Acknowledged after the tick that queued it: commands are recorded in time order.
        shop.crm.ack(NOW.plusSeconds(3600), listOf(effects[0].asJsonObject["id"].asString))
        expectEqual("[]", shop.crm.drainOutboxJson())
        expectEqual(null, shop.crm.nextWakeup())
        expectThrows<CrmException.Validation> { shop.crm.ack(NOW.plusSeconds(3600), listOf("not-an-id")) }
        // The form with an actor, like every other call: admins and the system acknowledge.
        val id = effects[0].asJsonObject["id"].asString
        expectThrows<CrmException.PermissionDenied> { shop.crm.ackAs(shop.manager, NOW.plusSeconds(3600), listOf(id)) }
        shop.crm.ackAs(shop.admin, NOW.plusSeconds(3600), listOf(id))
    },
    Check("a deal moves through the pipeline with exact amounts") {
        val shop = Shop()
        val contact = shop.crm.createContact(shop.manager, NOW, NewContact("Petra", phones = listOf("030 1234567")))
        val deal = shop.crm.createDeal(
            shop.manager, NOW,
            NewDeal("Three windows", pipeline = shop.pipeline, contact = contact, amount = Money("1499.99", "EUR")),
        )
        val stages = com.google.gson.JsonParser.parseString(
            shop.crm.queryJson(shop.manager, NOW.toString(), """{"type":"get","id":"${shop.pipeline}"}""")
        ).asJsonObject["stages"].asJsonArray.map { it.asJsonObject["id"].asString }
        shop.crm.moveDeal(shop.manager, NOW.plusSeconds(3600), deal, stages[2])
        val won = shop.crm.listDeals(shop.manager, DealFilter(status = DealStatus.WON))
        expectEqual(listOf(deal), won.map { it.id })
        expectEqual(BigDecimal("1499.99"), BigDecimal(won[0].amount!!.amount))
        expectEqual(2u, won[0].stageChanges)
        expectEqual(DealStatus.WON, won[0].status)
        expectEqual(null, won[0].paid)
        expectEqual(BigDecimal("1499.99"), BigDecimal(won[0].balance!!.amount))
        // Archived, it leaves the list unless the filter asks for it.
        shop.crm.executeJson(shop.manager, NOW.plusSeconds(7200).toString(), """{"type":"archive_record","id":"$deal"}""")
        expectEqual(0, shop.crm.listDeals(shop.manager, DealFilter()).size)
        expectEqual(listOf(deal), shop.crm.listDeals(shop.manager, DealFilter(archived = Archived.ONLY)).map { it.id })
    },
    Check("a field rep's day in records: a full contact, a visit, a call, the measurements") {
        val shop = Shop()
        val admin = shop.admin
        shop.crm.executeJson(admin, NOW.toString(), """{"type":"define_field","entity":"contact","key":"floor","label":"Floor","kind":"number"}""")
        shop.crm.executeJson(admin, NOW.toString(), """{"type":"define_field","entity":"task","key":"width_mm","label":"Width, mm","kind":"number"}""")
        val contact = shop.crm.createContact(
            shop.manager, NOW,
            NewContact(
                "Pyotr Ivanov", phones = listOf("030 1234567"), emails = listOf("pyotr@example.com"),
                position = "Owner", address = "Lenina 5", source = "referral", tags = listOf("vip"),
                custom = mapOf("floor" to FieldInput.Number(4L)), consent = Consent(email = true),
            ),
        )
        val visit = shop.crm.createTask(
            shop.manager, NOW,
            NewTask("Measure the windows", kind = "measurement", link = contact, due = NOW.plusSeconds(86400)),
        )
        val call = shop.crm.logActivity(
            shop.manager, NOW,
            NewActivity(ActivityKind.CALL, contact, direction = Direction.OUTBOUND, subject = "Agreed a time", durationSeconds = 90u),
        )
        shop.crm.completeTask(
            shop.manager, NOW.plusSeconds(90000),
            TaskCompletion(visit, outcome = "measured", fields = mapOf("width_mm" to FieldInput.Number(1450L))),
        )
        fun get(id: String) = com.google.gson.JsonParser.parseString(
            shop.crm.queryJson(shop.manager, NOW.toString(), """{"type":"get","id":"$id"}""")
        ).asJsonObject
        val stored = get(contact)
        expectEqual("Owner", stored["position"].asString)
        expectEqual(4L, stored["custom"].asJsonObject["floor"].asJsonObject["number"].asLong)
        expectEqual(true, stored["consent"].asJsonObject["email"].asBoolean)
        val task = get(visit)
        expectEqual("done", task["status"].asString)
        expectEqual("measured", task["outcome"].asString)
        expectEqual(1450L, task["fields"].asJsonObject["width_mm"].asJsonObject["number"].asLong)
        expectEqual("call", get(call)["kind"].asString)
        // A value of the wrong kind for its field is refused, naming the field.
        val wrong = expectThrows<CrmException.Validation> {
            shop.crm.createContact(shop.manager, NOW.plusSeconds(90000), NewContact("X", custom = mapOf("floor" to FieldInput.Text("high"))))
        }
        expect(wrong.reason.contains("floor")) { wrong.reason }
    },
    Check("a repeating task is typed, and completing it creates the next") {
        val shop = Shop()
        fun get(id: String) = com.google.gson.JsonParser.parseString(
            shop.crm.queryJson(shop.manager, NOW.toString(), """{"type":"get","id":"$id"}""")
        ).asJsonObject
        val weekly = shop.crm.createTask(
            shop.manager, NOW,
            NewTask("Weekly report", due = NOW.plusSeconds(3600), repeat = Repeat(Every.WEEK, count = 2u, daysOff = DaysOff.KEEP)),
        )
        shop.crm.completeTask(shop.manager, NOW.plusSeconds(7200), TaskCompletion(weekly))
        val next = get(weekly)["repeat"].asJsonObject["next"].asString
        val second = get(next)
        expectEqual("open", second["status"].asString)
        expectEqual(NOW.plusSeconds(3600 + 7 * 86400).toString(), java.time.Instant.parse(second["due"].asString).toString())
        expectEqual(2, second["repeat"].asJsonObject["occurrence"].asInt)
        val bad = expectThrows<CrmException.Validation> {
            shop.crm.createTask(shop.manager, NOW.plusSeconds(7200), NewTask("X", due = NOW.plusSeconds(9000), repeat = Repeat(Every.WEEK, on = listOf("someday"))))
        }
        expect(bad.reason.contains("repeat.on[0]")) { bad.reason }
    },
    Check("errors are sealed CrmException subclasses with a stable code") {
        val shop = Shop()
        val denied = expectThrows<CrmException.PermissionDenied> {
            shop.crm.createPipeline(shop.manager, NOW, "Mine", listOf(NewStage("A")), listOf())
        }
        expectEqual("permission_denied", denied.code)
        expect(denied.reason.contains("admins only")) { denied.reason }
        expectEqual(null, denied.field)
        val invalid = expectThrows<CrmException.Validation> {
            shop.crm.createContact(shop.manager, NOW, NewContact("A", phones = listOf("12")))
        }
        expect(invalid.reason.contains("phones[0]: \"12\"")) { invalid.reason }
        expectEqual("phones[0]", invalid.field)
        expectThrows<CrmException.NotFound> { shop.crm.createDeal(shop.manager, NOW, NewDeal("x", pipeline = "pip-5-99")) }
        expectThrows<CrmException.Validation> { shop.crm.createDeal(shop.manager, NOW, NewDeal("x", pipeline = "not-an-id")) }
        expectThrows<CrmException.Malformed> { shop.crm.executeJson(shop.manager, NOW.toString(), "{") }
        expectThrows<CrmException.Validation> { Crm(1uL shl 60) }
        expectEqual(0, shop.crm.listDeals(shop.manager, DealFilter()).size)
    },
    Check("events replay to the same answers") {
        val shop = Shop()
        shop.crm.createDeal(shop.manager, NOW, NewDeal("Door", pipeline = shop.pipeline, amount = Money("10", "EUR")))
        val copy = Crm.replay(5uL, shop.crm.eventsJson(1uL), "DE")
        expectEqual(shop.crm.lastSeq(), copy.lastSeq())
        expectEqual(shop.crm.listDeals(shop.manager, DealFilter()), copy.listDeals(shop.manager, DealFilter()))
    },
    Check("a phone's offline work runs once at the office, and the office's rule comes back") {
        val office = Crm(1uL)
        val admin = createdId(office.executeJson("system", NOW.toString(), """{"type":"create_user","name":"Olga","role":"admin"}"""))
        val manager = createdId(office.executeJson(admin, NOW.toString(), """{"type":"create_user","name":"Anton","role":"manager"}"""))
        office.executeJson(admin, NOW.toString(), """{"type":"define_rules","rules":[{"key":"price","when":{"type":"task_completed","kind":"measure"},
            "then":[{"type":"create_task","title":"Price the job","due_in":"1d"}]}]}""")
        var phone = CrmReplica(7uL)
        phone.receivePull(office.pull(admin, phone.cursor()))
        val later = NOW.plusSeconds(600)
        val contact = createdId(phone.executeJson(admin, later, """{"type":"create_contact","name":"Anna"}"""))
        expectEqual("con-7-1", contact)
        val task = createdId(phone.executeJson(admin, later, """{"type":"create_task","title":"Measure","kind":"measure","link":"$contact"}"""))
        phone.executeJson(admin, later, """{"type":"complete_task","id":"$task"}""")
        expectEqual(3, com.google.gson.JsonParser.parseString(phone.pendingJson()).asJsonArray.size())
        // Killed and started again from what it stored before sending: nothing is lost.
        phone = CrmReplica.restore(phone.eventsJson(), phone.logJson())
        val batch = phone.pushBatch()
        val answer = office.push(admin, later, batch)
        expectEqual(answer, office.push(admin, later, batch))
        phone.receivePushResult(answer)
        phone.receivePull(office.pull(admin, phone.cursor()))
        expectEqual("[]", phone.pendingJson())
        val tasks = com.google.gson.JsonParser.parseString(phone.queryJson(admin, later, """{"type":"list_tasks"}""")).asJsonObject["items"].asJsonArray
        expectEqual(listOf("Measure", "Price the job"), tasks.map { it.asJsonObject["title"].asString }.sorted())
        // The connection's user runs a command, not whoever typed it; a refusal is kept.
        phone.executeJson(admin, later, """{"type":"define_rules","rules":[]}""")
        val refused = office.push(manager, later, phone.pushBatch())
        phone.receivePushResult(refused)
        val rejected = com.google.gson.JsonParser.parseString(phone.rejectedJson()).asJsonArray
        expectEqual("permission_denied", rejected[0].asJsonObject["code"].asString)
        phone.discard(4uL)
        expectThrows<CrmException.NotFound> { phone.discard(4uL) }
        expectThrows<CrmException.Validation> { phone.receivePull(office.pull(manager, 0uL)) }
        expectThrows<CrmException.Malformed> { office.push(admin, later, "{") }
        // On a SQLite file, a phone killed and started again finds what it typed.
        val path = java.nio.file.Files.createTempDirectory("crm-replica").resolve("phone.sqlite").toString()
        val stored = CrmReplica.open(path, 9uL)
        stored.receivePull(office.pull(admin, stored.cursor()))
        stored.executeJson(admin, later, """{"type":"create_contact","name":"Boris"}""")
        val reopened = CrmReplica.open(path, 9uL)
        expectEqual(1, com.google.gson.JsonParser.parseString(reopened.pendingJson()).asJsonArray.size())
        expectThrows<CrmException.Validation> { CrmReplica.open(path, 10uL) }
        // A person erased at the office is forgotten: the file is rewritten and scrubbed.
        val dora = createdId(office.executeJson(admin, later.toString(), """{"type":"create_contact","name":"Dorothea Quist"}"""))
        stored.receivePull(office.pull(admin, stored.cursor()))
        expect(stored.eventsJson().contains("Quist")) { "pulled" }
        office.executeJson(admin, later.plusSeconds(60).toString(), """{"type":"erase_contact","id":"$dora"}""")
        stored.receivePull(office.pull(admin, stored.cursor()))
        expectEqual(1uL, stored.scrubs())
        expect(!stored.eventsJson().contains("Quist")) { "forgotten" }
        expect(!String(java.nio.file.Files.readAllBytes(java.nio.file.Paths.get(path)), Charsets.ISO_8859_1).contains("Quist")) { "scrubbed" }
    },
    Check("the measurer's day: his phone holds his jobs, works offline, and the office's rule fires once") {
        val office = Crm(1uL)
        fun run(actor: String, json: String) = office.executeJson(actor, NOW.toString(), json)
        val admin = createdId(run("system", """{"type":"create_user","name":"Olga","role":"admin"}"""))
        val anton = createdId(run(admin, """{"type":"create_user","name":"Anton","role":"manager"}"""))
        val sergey = createdId(run(admin, """{"type":"create_user","name":"Sergey","role":"specialist"}"""))
        run(admin, """{"type":"define_field","entity":"task","key":"measured_area","label":"Area, m²","kind":"decimal"}""")
        run(admin, """{"type":"define_rules","rules":[{"key":"price","when":{"type":"task_completed","kind":"measure"},
            "then":[{"type":"create_task","title":"Price the job","kind":"price","assignee":{"user":"$anton"},"due_in":"1d"}]}]}""")
        val pipeline = office.createPipeline(admin, NOW, "Windows", listOf(NewStage("New"), NewStage("Measured")), listOf())
        val anna = office.createContact(anton, NOW, NewContact("Anna", phones = listOf("+49 30 1234567")))
        val bruno = office.createContact(anton, NOW, NewContact("Bruno"))
        val deal = office.createDeal(anton, NOW, NewDeal("Anna's windows", pipeline = pipeline, contact = anna))
        office.createDeal(anton, NOW, NewDeal("Bruno's door", pipeline = pipeline, contact = bruno))
        // The office assigns the measurement; the phone pulls Sergey's view of the CRM.
        val job = office.createTask(anton, NOW, NewTask("Measure", kind = "measure", assignee = sergey, link = deal))
        val path = java.nio.file.Files.createTempDirectory("crm-measurer").resolve("phone.sqlite").toString()
        var phone = CrmReplica.open(path, 7uL)
        phone.receivePull(office.pull(sergey, phone.cursor()))
        fun ids(answer: String) = com.google.gson.JsonParser.parseString(answer).asJsonObject["items"].asJsonArray
            .map { it.asJsonObject["id"].asString }
        expectEqual(listOf(deal), ids(phone.queryJson(sergey, NOW, """{"type":"list_deals"}""")))
        expectEqual(listOf(anna), ids(phone.queryJson(sergey, NOW, """{"type":"list_contacts"}""")))
        // Offline: the measurement done with its figures, a call logged; then the phone dies.
        val later = NOW.plusSeconds(3600)
        phone.completeTask(sergey, later, TaskCompletion(job, outcome = "measured", fields = mapOf("measured_area" to FieldInput.Decimal("4.32"))))
        val call = phone.logActivity(sergey, later, NewActivity(ActivityKind.CALL, deal, direction = Direction.OUTBOUND, subject = "On my way"))
        expectEqual("act-7-1", call)
        expectThrows<CrmException.PermissionDenied> {
            phone.executeJson(sergey, later, """{"type":"update_deal","id":"$deal","patch":{"title":"Two doors"}}""")
        }
        phone = CrmReplica.open(path, 7uL)
        // Back online: pushed twice, decided once; the rule creates the pricing task once.
        val batch = phone.pushBatch()
        val answer = office.push(sergey, later, batch)
        expectEqual(answer, office.push(sergey, later, batch))
        phone.receivePushResult(answer)
        val pricing = com.google.gson.JsonParser.parseString(office.queryJson(admin, later.toString(), """{"type":"list_tasks","kind":"price"}"""))
        expectEqual(1, pricing.asJsonObject["total"].asInt)
        // The phone pulls its work back as the office recorded it, without Anton's task.
        phone.receivePull(office.pull(sergey, phone.cursor()))
        expectEqual("[]", phone.pendingJson())
        expectEqual(listOf(job), ids(phone.queryJson(sergey, later, """{"type":"list_tasks"}""")))
        val done = com.google.gson.JsonParser.parseString(phone.queryJson(sergey, later, """{"type":"get","id":"$job"}""")).asJsonObject
        expectEqual("done", done["status"].asString)
        expectEqual(1, com.google.gson.JsonParser.parseString(CrmReplica.open(path, 7uL).queryJson(sergey, later, """{"type":"list_activities","link":"$deal"}""")).asJsonObject["total"].asInt)
    },
)
