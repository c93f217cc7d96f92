package dev.kubemtls.signer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.tls.NativeCrypto;
import java.security.Security;
import javax.crypto.Cipher;
import org.junit.jupiter.api.Test;

/**
 * The first of the {@code native-tls} Failsafe execution's ITs (the rest are the signer's own, listed
 * in the pom): that JVM really has the native provider first, as {@link SignerMain} leaves it, so the
 * others ran their TLS to the API server through it. Not part of the default execution.
 */
class NativeTlsIT {

  @Test
  void theProviderIsRegisteredFirstForTheWholeJvm() throws Exception {
    assertThat(Boolean.getBoolean(NativeTlsSession.PROPERTY)).as(NativeTlsSession.PROPERTY).isTrue();
    assertThat(NativeCrypto.status().active()).as(NativeCrypto.status().detail()).isTrue();
    assertThat(Security.getProviders()[0].getName()).isEqualTo(NativeCrypto.ACCP_NAME);
    assertThat(Cipher.getInstance("AES/GCM/NoPadding").getProvider().getName()).isEqualTo(NativeCrypto.ACCP_NAME);
  }
}
