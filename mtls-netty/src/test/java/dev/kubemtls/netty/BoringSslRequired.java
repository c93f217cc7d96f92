package dev.kubemtls.netty;

import io.netty.handler.ssl.OpenSsl;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.LifecycleMethodExecutionExceptionHandler;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * Half of these tests run against BoringSSL (netty-tcnative), which ships for Linux on x86-64 and
 * ARM64 only. Where it does not load, a test that fails says so first, with the reason netty-tcnative
 * gave, instead of an error from deep inside Netty; tests that pass are left alone. Registered for
 * every test of the module through JUnit's extension auto-detection.
 */
public final class BoringSslRequired implements TestExecutionExceptionHandler,
    LifecycleMethodExecutionExceptionHandler {

  @Override
  public void handleTestExecutionException(ExtensionContext context, Throwable failure) throws Throwable {
    throw explain(context, failure);
  }

  @Override
  public void handleBeforeAllMethodExecutionException(ExtensionContext context, Throwable failure)
      throws Throwable {
    throw explain(context, failure);
  }

  @Override
  public void handleBeforeEachMethodExecutionException(ExtensionContext context, Throwable failure)
      throws Throwable {
    throw explain(context, failure);
  }

  private static Throwable explain(ExtensionContext context, Throwable failure) {
    if (OpenSsl.isAvailable()) {
      return failure;
    }
    return new AssertionError(context.getDisplayName() + " failed on a platform where BoringSSL"
        + " (netty-tcnative-boringssl-static, built for linux-x86_64 and linux-aarch_64) does not load ("
        + System.getProperty("os.name") + "/" + System.getProperty("os.arch") + ": "
        + OpenSsl.unavailabilityCause() + "). The OPENSSL cases of these tests need it; run them on"
        + " Linux x86-64 or ARM64. The original failure is the cause.", failure);
  }
}
