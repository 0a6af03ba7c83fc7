// A minimal test harness: named checks, a summary line "N passed, N failed", exit 1 on failure.
package dev.crmcore.tests

class Check(val name: String, val body: () -> Unit)

fun expect(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

fun <T> expectEqual(expected: T, actual: T, where: String = "") {
    expect(expected == actual) { "$where expected <$expected>, got <$actual>" }
}

inline fun <reified E : Throwable> expectThrows(body: () -> Unit): E {
    try {
        body()
    } catch (error: Throwable) {
        if (error is E) return error
        throw AssertionError("expected ${E::class.simpleName}, got $error")
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing was thrown")
}

fun main() {
    val checks = bindingChecks() + scenarioChecks()
    var failed = 0
    for (check in checks) {
        try {
            check.body()
            println("ok   ${check.name}")
        } catch (error: Throwable) {
            failed += 1
            println("FAIL ${check.name}: $error")
        }
    }
    println("kotlin: ${checks.size - failed} passed, $failed failed")
    if (failed > 0) kotlin.system.exitProcess(1)
}
