package dev.kubemtls.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.tls.NativeCrypto;
import java.security.KeyPairGenerator;
import java.security.Signature;
import javax.crypto.KeyAgreement;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The whole conformance suite on Jetty again ({@link JettyConformanceTest}), with native crypto
 * registered first ({@link NativeCrypto#install()}), as an application that switches it on runs:
 * the policy's protocols, signature schemes and groups, the peer policy, the refusal classes and
 * rotation under load must not change when SunJSSE takes its primitives from another provider.
 * Runs in a JVM of its own (the {@code native-crypto} Surefire execution), because the registration
 * is for the whole JVM.
 */
class NativeCryptoConformanceTest extends JettyConformanceTest {

  @BeforeAll
  static void installNativeCrypto() {
    NativeCrypto.Status status = NativeCrypto.install();
    // The build runs on linux-x86_64 with the matching ACCP jar: a provider that does not load here
    // is a failure, not a reason to skip.
    assertThat(status.active()).as(status.detail()).isTrue();
  }

  @Test
  void theHandshakePrimitivesComeFromTheNativeProvider() throws Exception {
    assertThat(NativeCrypto.status().active()).isTrue();
    assertThat(KeyAgreement.getInstance("ECDH").getProvider().getName()).isEqualTo(NativeCrypto.ACCP_NAME);
    assertThat(KeyPairGenerator.getInstance("EC").getProvider().getName()).isEqualTo(NativeCrypto.ACCP_NAME);
    assertThat(Signature.getInstance("SHA256withECDSA").getProvider().getName()).isEqualTo(NativeCrypto.ACCP_NAME);
    // ACCP 2.5 has no X25519: P-256, whose ECDH is native, becomes the JDK's preferred group.
    assertThat(System.getProperty("jdk.tls.namedGroups")).startsWith("secp256r1,x25519,");
    // Installing again changes nothing and says so.
    assertThat(NativeCrypto.install().active()).isTrue();
  }
}
