package dev.kubemtls.core.internal;

import dev.kubemtls.core.peer.PeerIdentity;
import java.security.cert.CertificateException;
import java.util.Objects;
import java.util.Optional;

/**
 * Why {@link MtlsTrustManager} refused a peer's certificate, as a {@link CertificateException} the
 * TLS stacks understand: the JDK reads the {@link java.security.cert.CertPathValidatorException}
 * reason in its cause (a client then sends {@code certificate_expired} or {@code bad_certificate}),
 * and the Netty OpenSSL integration turns {@link #rejection()} into the verify error code from which
 * BoringSSL picks the alert.
 */
public final class PeerCertificateException extends CertificateException {

  private static final long serialVersionUID = 1L;

  /** The causes an operator tells apart, each with the TLS alert it should produce. */
  public enum Rejection {
    /** The chain leads to no CA of the bundle (a foreign CA, or a self-signed certificate): {@code unknown_ca}. */
    UNKNOWN_CA("unknown_ca"),
    /** The certificate or a CA above it is past its notAfter: {@code certificate_expired}. */
    EXPIRED("certificate_expired"),
    /** Not valid yet: {@code bad_certificate}. */
    NOT_YET_VALID("bad_certificate"),
    /** A signature does not verify, or the certificate is unusable: {@code bad_certificate}. */
    BAD_CERTIFICATE("bad_certificate"),
    /** The server's certificate does not name the dialled host or IP: {@code bad_certificate}. */
    HOSTNAME_MISMATCH("bad_certificate"),
    /** Trusted, but refused by the {@code PeerPolicy}: {@code bad_certificate}. */
    NOT_ALLOWED("bad_certificate");

    private final String alert;

    Rejection(String alert) {
      this.alert = alert;
    }

    /** The TLS alert this rejection should produce. */
    public String alert() {
      return alert;
    }
  }

  private final transient Rejection rejection;
  private final transient PeerIdentity peer;

  public PeerCertificateException(Rejection rejection, String message, Throwable cause) {
    this(rejection, message, cause, null);
  }

  /** @param peer the refused peer's identity, when the peer policy refused a readable certificate */
  public PeerCertificateException(Rejection rejection, String message, Throwable cause, PeerIdentity peer) {
    super(message, cause);
    this.rejection = Objects.requireNonNull(rejection, "rejection");
    this.peer = peer;
  }

  public Rejection rejection() {
    return rejection;
  }

  /** The refused peer's identity, if the peer policy refused it and its certificate could be read. */
  public Optional<PeerIdentity> peer() {
    return Optional.ofNullable(peer);
  }
}
