package dev.kubemtls.spring.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * A key manager that offers, in each handshake, the identity of the snapshot current when the
 * handshake asks for an alias. The alias names the identity's generation ({@code id-<n>}), and the
 * key and chain are looked up by that alias among the last few identities, so a rotation between
 * choosing the alias and reading the key cannot pair one certificate with another's key.
 */
public final class FollowingKeyManager extends X509ExtendedKeyManager {

  private static final int KEPT = 4;

  private final MaterialSource source;
  private final TlsIdentity[] recent = new TlsIdentity[KEPT];
  private int next;

  public FollowingKeyManager(MaterialSource source) {
    this.source = Objects.requireNonNull(source, "source");
  }

  /** The alias of the current identity if its key is one of {@code keyTypes}, else null. */
  private String choose(String... keyTypes) {
    Optional<MtlsMaterial> material = source.currentIfReady();
    if (material.isEmpty()) {
      return null;
    }
    TlsIdentity identity = material.get().identity();
    String algorithm = identity.privateKey().getAlgorithm();
    if (keyTypes != null && Arrays.stream(keyTypes).noneMatch(t -> matches(algorithm, t))) {
      return null;
    }
    remember(identity);
    return identity.alias();
  }

  private static boolean matches(String keyAlgorithm, String keyType) {
    if (keyType == null) {
      return false;
    }
    // TLS 1.2 client key types may carry the signature algorithm, e.g. EC_EC or RSA_RSA.
    int underscore = keyType.indexOf('_');
    String type = underscore > 0 ? keyType.substring(0, underscore) : keyType;
    return type.equalsIgnoreCase(keyAlgorithm)
        || ("RSASSA-PSS".equalsIgnoreCase(type) && "RSA".equalsIgnoreCase(keyAlgorithm));
  }

  private synchronized void remember(TlsIdentity identity) {
    for (TlsIdentity kept : recent) {
      if (kept != null && kept.generation() == identity.generation() && kept == identity) {
        return;
      }
    }
    recent[next] = identity;
    next = (next + 1) % KEPT;
  }

  private synchronized TlsIdentity find(String alias) {
    if (alias == null) {
      return null;
    }
    for (TlsIdentity kept : recent) {
      if (kept != null && kept.alias().equals(alias)) {
        return kept;
      }
    }
    return null;
  }

  @Override
  public String[] getClientAliases(String keyType, Principal[] issuers) {
    String alias = choose(keyType);
    return alias == null ? null : new String[] {alias};
  }

  @Override
  public String chooseClientAlias(String[] keyTypes, Principal[] issuers, Socket socket) {
    return choose(keyTypes);
  }

  @Override
  public String chooseEngineClientAlias(String[] keyTypes, Principal[] issuers, SSLEngine engine) {
    return choose(keyTypes);
  }

  @Override
  public String[] getServerAliases(String keyType, Principal[] issuers) {
    String alias = choose(keyType);
    return alias == null ? null : new String[] {alias};
  }

  @Override
  public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
    return choose(keyType);
  }

  @Override
  public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
    return choose(keyType);
  }

  @Override
  public X509Certificate[] getCertificateChain(String alias) {
    TlsIdentity identity = find(alias);
    return identity == null ? null : identity.chain().toArray(X509Certificate[]::new);
  }

  @Override
  public PrivateKey getPrivateKey(String alias) {
    TlsIdentity identity = find(alias);
    return identity == null ? null : identity.privateKey();
  }
}
