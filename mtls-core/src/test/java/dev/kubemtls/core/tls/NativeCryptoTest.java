package dev.kubemtls.core.tls;

import static org.assertj.core.api.Assertions.assertThat;

import java.security.Security;
import org.junit.jupiter.api.Test;

/** Without the native provider on the class path (mtls-core's tests), nothing changes and the reason is given. */
class NativeCryptoTest {

  @Test
  void withoutTheProviderTheJdksProvidersStayAndTheStatusSaysWhatToAdd() {
    String first = Security.getProviders()[0].getName();
    NativeCrypto.Status status = NativeCrypto.install();
    assertThat(status.active()).isFalse();
    assertThat(status.detail()).contains("not on the class path")
        .contains("software.amazon.cryptools:AmazonCorrettoCryptoProvider");
    assertThat(Security.getProviders()[0].getName()).isEqualTo(first);
    assertThat(NativeCrypto.status().active()).isFalse();
  }
}
