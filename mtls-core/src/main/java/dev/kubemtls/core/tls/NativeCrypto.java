package dev.kubemtls.core.tls;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.security.Provider;
import java.security.Security;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Native elliptic-curve, key-agreement, signature, digest and AES-GCM arithmetic for the JDK's TLS
 * (SunJSSE), through Amazon Corretto Crypto Provider (ACCP, on AWS-LC) when it is on the class path.
 *
 * <p>Every JDK-path integration (Jetty, Spring Boot on Tomcat or on Reactor Netty without
 * netty-tcnative, {@code java.net.http}, the Kafka, database and HTTP clients, Netty's and gRPC's
 * JDK provider) runs its handshakes in SunJSSE, which takes each primitive from the most preferred
 * JCA provider that has it. ACCP registered first replaces SunEC's elliptic-curve code, written in
 * Java, with native code; SunJSSE keeps doing the protocol, so the {@link TlsPolicy} (protocols,
 * suites, signature schemes and groups, applied as algorithm constraints), the peer checks and the
 * verified-chain cache apply exactly as before. See the benchmarks README for what it buys.
 *
 * <p>Switching it on is one step, because registering a provider first changes every JCA lookup in
 * the JVM and is the application's decision: add {@code
 * software.amazon.cryptools:AmazonCorrettoCryptoProvider} with the {@code linux-x86_64} (or {@code
 * linux-aarch_64}) classifier and call {@link #install()} once at startup (the Spring Boot starter
 * does it with {@code kube-mtls.native-crypto=true}). Where ACCP is absent, or its native library
 * does not load (another platform or C library), or its self-tests fail, nothing is registered, the
 * JDK's own providers stay in use and {@link #install()} says why in its {@link Status}.
 *
 * <p>ACCP 2.5 has no X25519, so with it SunJSSE's X25519 key exchange would stay in Java while
 * P-256's runs natively: {@link #install()} therefore also makes P-256 the JDK's most preferred
 * key-exchange group (the system property {@code jdk.tls.namedGroups}, JVM-wide, read when SunJSSE
 * first loads: call {@link #install()} before the first TLS connection), unless that property is
 * already set. X25519 stays allowed; the {@link TlsPolicy}'s groups still decide what is permitted.
 * kube-mtls' JDK clients built after {@link #install()} leave X25519 and X448 out of their offer
 * when the policy has a NIST group, since SunJSSE's client would otherwise compute an X25519 key
 * share in Java on every handshake; {@code -Dkube-mtls.tls.client-offers-x25519=true} keeps it (for a
 * server that accepts X25519 only). Servers still accept every group of the policy.
 */
public final class NativeCrypto {

  /** ACCP's provider class. */
  static final String ACCP_CLASS = "com.amazon.corretto.crypto.provider.AmazonCorrettoCryptoProvider";
  /** ACCP's provider name. */
  public static final String ACCP_NAME = "AmazonCorrettoCryptoProvider";

  private static final Logger LOG = LoggerFactory.getLogger(NativeCrypto.class);
  /** SunJSSE's group preference property. */
  static final String GROUPS_PROPERTY = "jdk.tls.namedGroups";
  /** The JDK's default group order with P-256 moved first. */
  static final String P256_FIRST =
      "secp256r1,x25519,secp384r1,secp521r1,x448,ffdhe2048,ffdhe3072,ffdhe4096,ffdhe6144,ffdhe8192";

  /**
   * What {@link #install()} found.
   *
   * @param active whether the native provider is registered first, so SunJSSE uses it
   * @param detail the provider and its version when active; otherwise why not, and what to do
   */
  public record Status(boolean active, String detail) {
    public Status {
      Objects.requireNonNull(detail, "detail");
    }
  }

  private NativeCrypto() {}

  /**
   * Registers ACCP as the most preferred JCA provider if it is on the class path and healthy; does
   * nothing otherwise. Safe to call more than once and from several threads.
   */
  public static synchronized Status install() {
    Status s = installQuietly();
    if (s.active() && !nativeX25519() && System.getProperty(GROUPS_PROPERTY) == null) {
      System.setProperty(GROUPS_PROPERTY, P256_FIRST);
      s = new Status(true, s.detail() + "; P-256 is the preferred key-exchange group (its ECDH is native,"
          + " X25519's is not)");
    }
    if (s.active()) {
      LOG.info("Native crypto for JDK TLS: {}", s.detail());
    } else {
      LOG.info("Native crypto for JDK TLS not in use: {}", s.detail());
    }
    return s;
  }

  /** Whether ACCP is registered first now, and what it is. */
  public static Status status() {
    Provider[] providers = Security.getProviders();
    if (providers.length > 0 && ACCP_NAME.equals(providers[0].getName())) {
      return new Status(true, describe(providers[0]));
    }
    return new Status(false, Security.getProvider(ACCP_NAME) == null
        ? "no native provider is registered"
        : ACCP_NAME + " is registered but not first, so the JDK's providers are preferred");
  }

  private static boolean nativeX25519() {
    try {
      return ACCP_NAME.equals(javax.crypto.KeyAgreement.getInstance("X25519").getProvider().getName());
    } catch (java.security.NoSuchAlgorithmException e) {
      return false;
    }
  }

  private static Status installQuietly() {
    Status now = status();
    if (now.active()) {
      return now;
    }
    Class<?> type;
    try {
      type = Class.forName(ACCP_CLASS, true, NativeCrypto.class.getClassLoader());
    } catch (ClassNotFoundException | LinkageError e) {
      return new Status(false, "AmazonCorrettoCryptoProvider is not on the class path (add"
          + " software.amazon.cryptools:AmazonCorrettoCryptoProvider with your platform's classifier)");
    }
    try {
      Field instanceField = type.getField("INSTANCE");
      Provider provider = (Provider) instanceField.get(null);
      Throwable loading = (Throwable) type.getMethod("getLoadingError").invoke(provider);
      if (loading != null) {
        return new Status(false, "AmazonCorrettoCryptoProvider's native library did not load on "
            + System.getProperty("os.name") + "/" + System.getProperty("os.arch") + " ("
            + loading.getClass().getSimpleName() + ": " + loading.getMessage()
            + "); the JDK's providers stay in use");
      }
      Method healthy = type.getMethod("assertHealthy");
      healthy.invoke(provider);
      type.getMethod("install").invoke(null);
    } catch (java.lang.reflect.InvocationTargetException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      return new Status(false, "AmazonCorrettoCryptoProvider is not healthy (" + cause.getClass().getSimpleName()
          + ": " + cause.getMessage() + "); the JDK's providers stay in use");
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      return new Status(false, "AmazonCorrettoCryptoProvider could not be registered (" + e.getClass().getSimpleName()
          + ": " + e.getMessage() + "); the JDK's providers stay in use");
    }
    Status after = status();
    return after.active() ? after
        : new Status(false, "AmazonCorrettoCryptoProvider did not become the first provider; the JDK's providers"
            + " stay in use");
  }

  private static String describe(Provider p) {
    String aws = "";
    try {
      aws = ", AWS-LC " + p.getClass().getMethod("getAwsLcVersionStr").invoke(p);
    } catch (ReflectiveOperationException | RuntimeException e) {
      // Older versions do not say.
    }
    return p.getName() + " " + p.getVersionStr() + aws + " is the first JCA provider";
  }
}
