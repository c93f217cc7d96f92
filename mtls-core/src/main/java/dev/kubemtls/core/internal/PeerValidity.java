package dev.kubemtls.core.internal;

import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSessionContext;

/**
 * The validity rules that hold on every handshake, resumed or not. A resumed TLS session (a session
 * ID or ticket in TLS 1.2, a PSK in TLS 1.3) skips the trust manager, so the peer chain it carries
 * is checked here against the injected clock when the handshake completes; and the sessions a
 * context hands out live no longer than its own certificate.
 */
public final class PeerValidity {

  /** The longest a TLS session or ticket lives, whatever the certificate's validity: one hour. */
  public static final Duration MAX_SESSION_LIFETIME = Duration.ofHours(1);

  private PeerValidity() {}

  /**
   * Checks that every certificate of {@code chain} is inside its validity window at {@code now}.
   *
   * @throws CertificateExpiredException    naming the certificate past its notAfter
   * @throws CertificateNotYetValidException naming the certificate before its notBefore
   */
  public static void check(Certificate[] chain, Instant now) throws CertificateException {
    if (chain == null) {
      return;
    }
    Date date = Date.from(now);
    for (Certificate c : chain) {
      if (c instanceof X509Certificate x) {
        try {
          x.checkValidity(date);
        } catch (CertificateExpiredException e) {
          throw withCause(new CertificateExpiredException("the peer certificate "
              + x.getSubjectX500Principal().getName() + " (serial " + x.getSerialNumber().toString(16)
              + ") expired at " + x.getNotAfter().toInstant() + "; it is " + now), e);
        } catch (CertificateNotYetValidException e) {
          throw withCause(new CertificateNotYetValidException("the peer certificate "
              + x.getSubjectX500Principal().getName() + " (serial " + x.getSerialNumber().toString(16)
              + ") is valid from " + x.getNotBefore().toInstant() + "; it is " + now), e);
        }
      }
    }
  }

  private static <T extends Throwable> T withCause(T t, Throwable cause) {
    t.initCause(cause);
    return t;
  }

  /**
   * Checks the peer chain of a session that has just completed a handshake, for a TLS stack that
   * takes an {@link SSLHandshakeException}; a peer without a certificate passes (whether one is
   * required is the TLS stack's and the peer policy's decision).
   *
   * @param side {@code server} or {@code client}, for the message
   */
  public static void checkSession(SSLSession session, Instant now, String side) throws SSLHandshakeException {
    checkChain(session, now, "kube-mtls " + side + ": refused the TLS session at the end of its handshake"
        + " (a resumed session skips the trust manager): ");
  }

  /**
   * Checks the peer chain of the session a server is about to resume, before its first flight; a
   * session without a peer chain (a full handshake's, at that point) passes.
   *
   * @param side {@code server} or {@code client}, for the message
   */
  public static void checkResumption(SSLSession session, Instant now, String side) throws SSLHandshakeException {
    checkChain(session, now, "kube-mtls " + side + ": refused to resume a TLS session, with a"
        + " certificate_expired alert (a resumed session skips the trust manager): ");
  }

  private static void checkChain(SSLSession session, Instant now, String refusal) throws SSLHandshakeException {
    Certificate[] chain;
    try {
      chain = session.getPeerCertificates();
    } catch (SSLPeerUnverifiedException e) {
      return;
    }
    try {
      check(chain, now);
    } catch (CertificateException e) {
      SSLHandshakeException refused = new SSLHandshakeException(refusal + e.getMessage());
      refused.initCause(e);
      throw refused;
    }
  }

  /**
   * Invalidates the sessions in {@code sessions} whose peer chain is outside its validity at
   * {@code now}, so that a client does not offer them: a client engine that resumed one could
   * refuse it only after the handshake (with a close_notify), while a full handshake's trust check
   * refuses an expired server with an alert. One pass over the cache, which holds a session per
   * server the client talks to.
   */
  public static void sweepExpired(SSLSessionContext sessions, Instant now) {
    sweep(sessions, now);
  }

  /**
   * {@link #sweepExpired}, but only when a session in {@code sessions} may have expired since the
   * last sweep: once the clock reaches the earliest end of validity among the sessions that sweep
   * kept, or {@link #SWEEP_INTERVAL} after it (for sessions cached since, which it has not seen).
   * Otherwise this costs a map lookup. A busy JDK client's cache holds thousands of sessions (each
   * TLS 1.3 ticket is one, up to the JDK's 20,480), and a pass over all of them before every
   * ClientHello made resumed handshakes three times dearer than full ones. A session cached less
   * than a second before its server's certificate expires may be offered; the check of a kube-mtls
   * client engine when the handshake completes still refuses it (a client without that check, such
   * as gRPC's or a socket, sweeps with {@link #sweepExpired} every time).
   */
  public static void sweepExpiredWhenDue(SSLSessionContext sessions, Instant now) {
    if (sessions == null) {
      return;
    }
    long t = now.toEpochMilli();
    long[] last;
    synchronized (NEXT_SWEEP) {
      last = NEXT_SWEEP.get(sessions);
    }
    // {time of the last sweep, when the next is due}; a clock set back sweeps again too.
    if (last != null && t >= last[0] && t < last[1]) {
      return;
    }
    long earliest = sweep(sessions, now);
    long[] next = {t, Math.min(earliest, t + SWEEP_INTERVAL.toMillis())};
    synchronized (NEXT_SWEEP) {
      NEXT_SWEEP.put(sessions, next);
    }
  }

  /** The longest a session cached after a sweep goes unseen by the next one. */
  static final Duration SWEEP_INTERVAL = Duration.ofSeconds(1);

  /** Per client session cache, when it was last swept and when it is due (epoch millis); weak keys. */
  private static final java.util.Map<SSLSessionContext, long[]> NEXT_SWEEP = new java.util.WeakHashMap<>();

  /** Invalidates the expired sessions; returns the earliest end of validity of those kept. */
  private static long sweep(SSLSessionContext sessions, Instant now) {
    long earliest = Long.MAX_VALUE;
    if (sessions == null) {
      return earliest;
    }
    for (java.util.Enumeration<byte[]> ids = sessions.getIds(); ids.hasMoreElements(); ) {
      SSLSession session = sessions.getSession(ids.nextElement());
      if (session == null) {
        continue;
      }
      try {
        Certificate[] chain = session.getPeerCertificates();
        check(chain, now);
        for (Certificate c : chain) {
          if (c instanceof X509Certificate x) {
            earliest = Math.min(earliest, x.getNotAfter().getTime() + 1);
          }
        }
      } catch (CertificateException | SSLPeerUnverifiedException e) {
        session.invalidate();
      }
    }
    return earliest;
  }

  /**
   * How long, in whole seconds, a session made now with a certificate valid until {@code notAfter}
   * may be resumed: the time left until then, at most {@link #MAX_SESSION_LIFETIME}, at least one
   * second (zero would mean "forever" to the TLS stacks).
   */
  public static int sessionSeconds(Instant notAfter, Instant now) {
    long left = Duration.between(now, notAfter).getSeconds();
    return (int) Math.max(1, Math.min(left, MAX_SESSION_LIFETIME.getSeconds()));
  }
}
