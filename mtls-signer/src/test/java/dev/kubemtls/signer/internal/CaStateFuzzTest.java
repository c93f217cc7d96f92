package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kubemtls.core.InvalidMaterialException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Coverage-guided fuzz test of the CA rotation state reader, {@code CaKeeper.readStored}: what a
 * new leader reads from the state Secret to resume a rotation. The input is up to five texts
 * separated by NUL bytes, in this order: {@code signing.crt}, {@code pending.crt},
 * {@code switch-at}, {@code retiring.crt}, {@code retiring.until} (an empty text is an absent entry).
 *
 * <p>The contract: anything malformed raises {@link InvalidMaterialException} and nothing else (no
 * {@code DateTimeParseException}, no {@link StackOverflowError}: certificates are size- and
 * depth-checked first), within seconds; a state it returns has a signing certificate and one removal
 * instant per retiring certificate.
 *
 * <p>In a plain build this runs once per committed seed ({@code CaStateFuzzTestInputs/readStored/}:
 * steady, propagating, two retiring CAs, a bad instant, retiring CAs without instants, 2,000 nested
 * SEQUENCEs as the signing certificate).
 */
class CaStateFuzzTest {

  private static final Duration TOO_SLOW = Duration.ofSeconds(2);
  private static final List<String> KEYS = List.of("signing.crt", "pending.crt", "switch-at", "retiring.crt",
      "retiring.until");

  @FuzzTest
  void readStored(byte[] input) {
    String[] parts = new String(input, StandardCharsets.US_ASCII).split("\0", -1);
    Map<String, String> data = new HashMap<>();
    for (int i = 0; i < Math.min(parts.length, KEYS.size()); i++) {
      if (!parts[i].isEmpty()) {
        data.put(KEYS.get(i), Base64.getEncoder().encodeToString(parts[i].getBytes(StandardCharsets.US_ASCII)));
      }
    }
    long start = System.nanoTime();
    CaKeeper.Stored stored;
    try {
      stored = CaKeeper.readStored(data, "Secret fuzz/state");
    } catch (InvalidMaterialException expected) {
      assertThat(expected).hasMessageContaining("Secret fuzz/state");
      return;
    } finally {
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(TOO_SLOW);
    }
    assertThat(stored.signing()).isNotNull();
    assertThat(stored.retiring()).allSatisfy(r -> assertThat(r.removeAt()).isNotNull());
    if (!data.containsKey("retiring.crt")) {
      assertThat(stored.retiring()).isEmpty();
    }
  }
}
