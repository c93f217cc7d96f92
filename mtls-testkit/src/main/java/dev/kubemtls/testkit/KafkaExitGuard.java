package dev.kubemtls.testkit;

import java.lang.reflect.Proxy;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import kafka.server.KafkaRaftServer;

/**
 * Kafka's {@code Exit} procedures, replaced while at least one guarded broker runs (the JVM has one
 * set: a second broker's close must not give the first one back the JVM-ending procedures), found by
 * name because they moved from {@code org.apache.kafka.common.utils} to its {@code internals}
 * package after 4.1. A request to exit or halt is told to every start under way, which then fails
 * at once: Kafka logs the exception the replaced procedure throws and carries on with a broken
 * broker that never finishes starting (a fault in its metadata publisher, for instance).
 */
final class KafkaExitGuard {

  private KafkaExitGuard() {}

  private static final List<String> NAMES = List.of("org.apache.kafka.common.utils.internals.Exit",
      "org.apache.kafka.common.utils.Exit");
  private static final List<CompletableFuture<String>> WATCHERS = new CopyOnWriteArrayList<>();
  private static int installed;

  static synchronized void install() {
    if (installed++ > 0) {
      return;
    }
    Class<?> exit = exitClass();
    try {
      Class<?> procedure = Class.forName(exit.getName() + "$Procedure", true, exit.getClassLoader());
      for (String what : List.of("Exit", "Halt")) {
        Object refuse = Proxy.newProxyInstance(exit.getClassLoader(), new Class<?>[] {procedure},
            (proxy, method, args) -> switch (method.getName()) {
              case "execute" -> throw refused(what.toLowerCase(java.util.Locale.ROOT), args[0], args[1]);
              case "hashCode" -> System.identityHashCode(proxy);
              case "equals" -> proxy == args[0];
              default -> "refuse Kafka's " + what;
            });
        exit.getMethod("set" + what + "Procedure", procedure).invoke(null, refuse);
      }
    } catch (ReflectiveOperationException e) {
      installed--;
      throw new IllegalStateException("cannot replace " + exit.getName() + "'s procedures: " + e, e);
    }
  }

  static synchronized void reset() {
    if (installed == 0 || --installed > 0) {
      return;
    }
    Class<?> exit = exitClass();
    try {
      exit.getMethod("resetExitProcedure").invoke(null);
      exit.getMethod("resetHaltProcedure").invoke(null);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot reset " + exit.getName() + "'s procedures: " + e, e);
    }
  }

  /** Completed with the request if a broker asks to exit or halt before {@link #unwatch}. */
  static CompletableFuture<String> watch() {
    CompletableFuture<String> f = new CompletableFuture<>();
    WATCHERS.add(f);
    return f;
  }

  static void unwatch(CompletableFuture<String> f) {
    WATCHERS.remove(f);
  }

  private static IllegalStateException refused(String what, Object code, Object message) {
    Thread t = Thread.currentThread();
    String caller = StackWalker.getInstance().walk(frames -> frames
        .map(f -> f.getClassName() + "." + f.getMethodName())
        .filter(n -> !n.startsWith("dev.kubemtls.testkit.") && !n.startsWith("jdk.proxy")
            && !n.startsWith("org.apache.kafka.common.utils.") && !n.contains("FaultHandler")
            && !n.startsWith("java.") && !n.startsWith("jdk.internal."))
        .findFirst().orElse("?"));
    String request = "the Kafka broker asked to " + what + " " + code + ": " + message + " (thread "
        + t.getName() + ", from " + caller + "; the error it met is logged just before)";
    for (CompletableFuture<String> w : WATCHERS) {
      w.complete(request);
    }
    return new IllegalStateException(request);
  }

  private static Class<?> exitClass() {
    for (String name : NAMES) {
      try {
        return Class.forName(name, true, KafkaRaftServer.class.getClassLoader());
      } catch (ClassNotFoundException e) {
        // the other Kafka version's
      }
    }
    throw new IllegalStateException("neither of " + NAMES + " is on the class path with the Kafka broker");
  }
}
