package dev.kubemtls.signer;

import dev.kubemtls.core.tls.NativeCrypto;
import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Runs a test JVM as {@link SignerMain} runs the signer's: with {@code -Dkube-mtls.test.native-tls=true}
 * (the {@code native-tls} Failsafe execution) the native provider is registered for the whole JVM by
 * {@link SignerMain#installNativeTls(String)} before the first test, so that the signer's ITs run
 * with it in place. Where it cannot be registered the session stops with the reason: that execution
 * is never run on the JDK's providers and reported as passing. Without the property it does nothing.
 */
public final class NativeTlsSession implements LauncherSessionListener {

  /** The system property that asks for the native provider. */
  static final String PROPERTY = "kube-mtls.test.native-tls";

  @Override
  public void launcherSessionOpened(LauncherSession session) {
    if (!Boolean.getBoolean(PROPERTY)) {
      return;
    }
    NativeCrypto.Status status = SignerMain.installNativeTls("true");
    if (!status.active()) {
      throw new IllegalStateException("the native-tls tests need the native provider registered, and it is not: "
          + status.detail());
    }
  }
}
