package dev.kubemtls.core.testing;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;

/**
 * What a TLS client offers for the key exchange, read from the bytes of its ClientHello: the
 * groups of its {@code supported_groups} extension and those it sent a {@code key_share} for, by
 * their TLS names, in the order sent. Used to see what an engine configured by kube-mtls puts on
 * the wire, without a server.
 */
public final class ClientHellos {

  private static final Map<Integer, String> GROUPS = Map.of(0x0017, "secp256r1", 0x0018, "secp384r1",
      0x0019, "secp521r1", 0x001d, "x25519", 0x001e, "x448", 0x0100, "ffdhe2048", 0x0101, "ffdhe3072",
      0x0102, "ffdhe4096", 0x0103, "ffdhe6144", 0x0104, "ffdhe8192");

  /** The groups offered, and those with a key share. */
  public record Offer(List<String> groups, List<String> keyShares) {}

  private ClientHellos() {}

  /** The offer of the ClientHello that {@code client} (in client mode, not started) writes first. */
  public static Offer of(SSLEngine client) throws SSLException {
    ByteBuffer out = ByteBuffer.allocate(client.getSession().getPacketBufferSize());
    SSLEngineResult r = client.wrap(ByteBuffer.allocate(0), out);
    if (r.bytesProduced() == 0) {
      throw new IllegalStateException("the engine wrote no ClientHello: " + r);
    }
    out.flip();
    return read(out);
  }

  /** The offer of the ClientHello in {@code record} (one TLS record holding the whole message). */
  public static Offer read(ByteBuffer record) {
    ByteBuffer b = record.duplicate();
    if (b.get() != 22) {
      throw new IllegalArgumentException("not a handshake record");
    }
    b.position(b.position() + 4); // version, record length
    if (b.get() != 1) {
      throw new IllegalArgumentException("not a ClientHello");
    }
    b.position(b.position() + 3 + 2 + 32); // message length, legacy version, random
    skip(b, b.get() & 0xff); // session id
    skip(b, b.getShort() & 0xffff); // cipher suites
    skip(b, b.get() & 0xff); // compression methods
    int end = (b.getShort() & 0xffff) + b.position();
    List<String> groups = new ArrayList<>();
    List<String> shares = new ArrayList<>();
    while (b.position() < end) {
      int type = b.getShort() & 0xffff;
      int length = b.getShort() & 0xffff;
      ByteBuffer ext = b.slice(b.position(), length);
      skip(b, length);
      if (type == 10) { // supported_groups
        int n = (ext.getShort() & 0xffff) / 2;
        for (int i = 0; i < n; i++) {
          groups.add(name(ext.getShort() & 0xffff));
        }
      } else if (type == 51) { // key_share
        ext.getShort();
        while (ext.hasRemaining()) {
          shares.add(name(ext.getShort() & 0xffff));
          skip(ext, ext.getShort() & 0xffff);
        }
      }
    }
    return new Offer(List.copyOf(groups), List.copyOf(shares));
  }

  private static String name(int id) {
    return GROUPS.getOrDefault(id, String.format("0x%04x", id));
  }

  private static void skip(ByteBuffer b, int n) {
    b.position(b.position() + n);
  }
}
