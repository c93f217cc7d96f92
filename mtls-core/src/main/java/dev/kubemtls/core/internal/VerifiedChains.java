package dev.kubemtls.core.internal;

import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.peer.PeerIdentity;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.LongAdder;

/**
 * Peer chains that passed the full PKIX check, remembered so that a peer that reconnects with the
 * same certificate costs no second path validation, and leaf certificates read once for their
 * {@link PeerIdentity}.
 *
 * <p>A hit needs everything the PKIX check depended on to be the same: the trust bundle (a
 * {@link Scope} per bundle; a bundle with other CAs starts an empty scope, so a CA that left the
 * bundle is refused by the next handshake), the exact DER bytes of every certificate of the chain,
 * the key-exchange type the TLS stack named, and, for a client, the host it dialled (its name check).
 * Validity is never remembered as a yes: on every hit, each certificate's notBefore and notAfter are
 * compared with the injected clock, and a chain outside its window is dropped and refused as the
 * full check would refuse it. Only successes are remembered; a refused chain is checked in full each
 * time, so its log line and alert stay the same. Each scope holds at most {@code maxEntries} chains
 * and drops the least recently used; one instance serves one server or client (its event loops).
 *
 * <p>What a hit keeps: the signature of every certificate was verified under a CA of this bundle, the
 * path, key usages, extended key usages and name were checked by the JDK's validator for these exact
 * bytes and this host, and the validity is checked now. What the TLS handshake proves each time,
 * possession of the leaf's private key, is not the trust manager's to skip and is never skipped.
 */
public final class VerifiedChains {

  /** Chains per trust bundle, unless told otherwise. */
  public static final int DEFAULT_MAX_ENTRIES = 1024;

  private final InstantSource clock;
  private final int maxEntries;
  private final LongAdder hits = new LongAdder();
  private final LongAdder misses = new LongAdder();
  private final Lru<Der, PeerIdentity> identities;
  private Scope last;

  /**
   * @param clock      the time validity is checked against on every handshake
   * @param maxEntries the most chains kept per trust bundle (and leaf identities per instance)
   */
  public VerifiedChains(InstantSource clock, int maxEntries) {
    this.clock = Objects.requireNonNull(clock, "clock");
    if (maxEntries < 1) {
      throw new IllegalArgumentException("maxEntries must be at least 1, was " + maxEntries);
    }
    this.maxEntries = maxEntries;
    this.identities = new Lru<>(maxEntries);
  }

  /** With the system clock and {@link #DEFAULT_MAX_ENTRIES}. */
  public static VerifiedChains withSystemClock() {
    return new VerifiedChains(InstantSource.system(), DEFAULT_MAX_ENTRIES);
  }

  public InstantSource clock() {
    return clock;
  }

  /**
   * The scope for {@code bundle}: the last one handed out if it was made for the same CA
   * certificates, otherwise a new, empty one (the old one stays with the trust manager that holds
   * it, for the connections of the superseded context, and is collected with it).
   */
  public synchronized Scope scope(TrustBundle bundle) {
    Objects.requireNonNull(bundle, "bundle");
    if (last == null || !last.cas.equals(bundle.certificates())) {
      last = new Scope(bundle.certificates());
    }
    return last;
  }

  /** Handshakes whose chain was found verified. */
  public long hits() {
    return hits.sum();
  }

  /** Handshakes whose chain needed the full check. */
  public long misses() {
    return misses.sum();
  }

  /**
   * The identity of a leaf certificate the TLS stack has verified, read once per distinct
   * certificate: {@link PeerIdentity#of} on the first sight of these bytes, then the same value.
   *
   * @throws dev.kubemtls.core.InvalidMaterialException as {@link PeerIdentity#of} does
   */
  public PeerIdentity identity(X509Certificate leaf) {
    Der key = Der.of(leaf);
    if (key == null) {
      return PeerIdentity.of(leaf);
    }
    PeerIdentity known = identities.get(key);
    if (known != null) {
      return known;
    }
    PeerIdentity read = PeerIdentity.of(leaf);
    identities.put(key, read);
    return read;
  }

  /** Leaf identities remembered; for tests of the bound. */
  public int identityCount() {
    return identities.size();
  }

  /** What is remembered of one verified chain. */
  record Entry(Instant notBefore, Instant notAfter) {}

  /** The verified chains of one trust bundle. */
  public final class Scope {
    private final List<X509Certificate> cas;
    private final Lru<Key, Entry> entries = new Lru<>(maxEntries);

    private Scope(List<X509Certificate> cas) {
      this.cas = cas;
    }

    /** The key of a chain, or null if a certificate cannot be encoded (then it is never cached). */
    public Key key(X509Certificate[] chain, String authType, String host) {
      if (chain == null || chain.length == 0) {
        return null;
      }
      byte[][] der = new byte[chain.length][];
      for (int i = 0; i < chain.length; i++) {
        try {
          der[i] = chain[i].getEncoded();
        } catch (CertificateEncodingException | RuntimeException e) {
          return null;
        }
      }
      return new Key(der, authType, host);
    }

    /**
     * Whether {@code key} was verified in full under this bundle; an entry found outside its
     * validity window is dropped, so the full check runs (and refuses it).
     */
    public boolean verified(Key key) {
      if (key == null) {
        return false;
      }
      Entry e = entries.get(key);
      if (e == null) {
        misses.increment();
        return false;
      }
      Instant now = clock.instant();
      if (now.isBefore(e.notBefore()) || now.isAfter(e.notAfter())) {
        entries.remove(key);
        misses.increment();
        return false;
      }
      hits.increment();
      return true;
    }

    /** Remembers that {@code chain} passed the full check under this bundle. */
    public void remember(Key key, X509Certificate[] chain) {
      if (key == null) {
        return;
      }
      Instant notBefore = Instant.MIN;
      Instant notAfter = Instant.MAX;
      for (X509Certificate c : chain) {
        Instant nb = c.getNotBefore().toInstant();
        Instant na = c.getNotAfter().toInstant();
        notBefore = nb.isAfter(notBefore) ? nb : notBefore;
        notAfter = na.isBefore(notAfter) ? na : notAfter;
      }
      entries.put(key, new Entry(notBefore, notAfter));
    }

    /** Chains remembered under this bundle. */
    public int size() {
      return entries.size();
    }
  }

  /** A chain as the exact bytes of its certificates, with what else the check depended on. */
  public static final class Key {
    private final byte[][] der;
    private final String authType;
    private final String host;
    private final int hash;

    Key(byte[][] der, String authType, String host) {
      this.der = der;
      this.authType = authType;
      this.host = host;
      this.hash = 31 * (31 * Arrays.deepHashCode(der) + Objects.hashCode(authType)) + Objects.hashCode(host);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && hash == k.hash && Objects.equals(authType, k.authType)
          && Objects.equals(host, k.host) && Arrays.deepEquals(der, k.der);
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }

  /** One certificate's DER bytes as a map key. */
  private record Der(byte[] bytes, int hash) {
    static Der of(X509Certificate c) {
      try {
        byte[] b = c.getEncoded();
        return new Der(b, Arrays.hashCode(b));
      } catch (CertificateEncodingException | RuntimeException e) {
        return null;
      }
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Der d && hash == d.hash && Arrays.equals(bytes, d.bytes);
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }

  /** A least-recently-used map of at most {@code max} entries, safe for several event loops. */
  private static final class Lru<K, V> {
    private final Map<K, V> map;

    Lru(int max) {
      this.map = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<K, V> eldest) {
          return size() > max;
        }
      };
    }

    synchronized V get(K key) {
      return map.get(key);
    }

    synchronized void put(K key, V value) {
      map.put(key, value);
    }

    synchronized void remove(K key) {
      map.remove(key);
    }

    synchronized int size() {
      return map.size();
    }
  }
}
