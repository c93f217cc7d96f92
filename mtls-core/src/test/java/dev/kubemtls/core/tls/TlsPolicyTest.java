package dev.kubemtls.core.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class TlsPolicyTest {

  @Test
  void defaultsPreferTls13AndAes128AndAllowNoSha1() {
    TlsPolicy p = TlsPolicy.defaults();
    assertThat(p.protocols()).containsExactly("TLSv1.3", "TLSv1.2");
    assertThat(p.cipherSuites()).startsWith("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
    assertThat(p.cipherSuites()).allMatch(s -> s.contains("GCM") || s.contains("CHACHA20"));
    assertThat(p.signatureSchemes()).noneMatch(s -> s.contains("sha1") || s.contains("md5"));
    assertThat(p.namedGroups()).containsExactly("x25519", "secp256r1", "secp384r1");
    assertThat(p.clientAuth()).isEqualTo(ClientAuth.REQUIRE);
  }

  @Test
  void overridesAreValidatedAndCopied() {
    String[] groups = {"X25519"};
    TlsPolicy p = TlsPolicy.builder().protocols("TLSv1.3").cipherSuites("TLS_AES_256_GCM_SHA384")
        .namedGroups(groups).clientAuth(ClientAuth.OPTIONAL).build();
    groups[0] = "x448";
    assertThat(p.namedGroups()).containsExactly("x25519");
    assertThat(p.clientAuth()).isEqualTo(ClientAuth.OPTIONAL);
    assertThat(p).isEqualTo(TlsPolicy.defaults().toBuilder().protocols("TLSv1.3")
        .cipherSuites("TLS_AES_256_GCM_SHA384").namedGroups("x25519").build().withClientAuth(ClientAuth.OPTIONAL));
    assertThat(TlsPolicy.defaults().clientAuth()).isEqualTo(ClientAuth.REQUIRE);
  }

  @Test
  void buildRefusesWhatIsBelowTheFloorOrCannotHandshake() {
    assertThatThrownBy(() -> TlsPolicy.builder().protocols("TLSv1.1").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("TLSv1.1");
    assertThatThrownBy(() -> TlsPolicy.builder().cipherSuites("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA").build())
        .hasMessageContaining("CBC_SHA' is not allowed");
    assertThatThrownBy(() -> TlsPolicy.builder().cipherSuites("TLS_AES_128_GCM_SHA256").build())
        .hasMessageContaining("TLSv1.2 is enabled but no TLS 1.2 cipher suite is");
    assertThatThrownBy(() -> TlsPolicy.builder().signatureSchemes("ecdsa_sha1").build())
        .hasMessageContaining("too weak");
    assertThatThrownBy(() -> TlsPolicy.builder().signatureSchemes("rsa_pkcs1_sha1").build())
        .hasMessageContaining("too weak");
    assertThatThrownBy(() -> TlsPolicy.builder().namedGroups("ffdhe2048").build())
        .hasMessageContaining("finite-field");
    assertThatThrownBy(() -> TlsPolicy.builder().namedGroups("x25519", "x25519").build())
        .hasMessageContaining("twice");
    assertThatThrownBy(() -> TlsPolicy.builder().protocols()).hasMessageContaining("at least one");
    assertThatThrownBy(() -> TlsPolicy.builder().clientAuth(null)).isInstanceOf(NullPointerException.class);
  }
}
