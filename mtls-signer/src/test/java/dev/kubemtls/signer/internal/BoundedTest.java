package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class BoundedTest {

  @Test
  void everyCharacterThatChangesHowALineIsShownIsEscaped() {
    assertThat(Bounded.escape("a\nb\rc\td")).isEqualTo("a\\nb\\rc\\td");
    assertThat(Bounded.escape("\u001b[2J\u0000\u007f\u0085\u009b")).isEqualTo("\\u001b[2J\\u0000\\u007f\\u0085\\u009b");
    assertThat(Bounded.escape("\u2028\u2029\u200e\u200f\u202a\u202e\u2066\u2069"))
        .isEqualTo("\\u2028\\u2029\\u200e\\u200f\\u202a\\u202e\\u2066\\u2069");
    // Printable text, backslashes and non-Latin letters stay as they are.
    assertThat(Bounded.escape("web.shop.svc CN=a\\,b Grüße 東京")).isEqualTo("web.shop.svc CN=a\\,b Grüße 東京");
    assertThat(Bounded.escape(null)).isNull();
  }

  @Test
  void clippedItemsListsAndMessagesAreEscapedFirst() {
    assertThat(Bounded.clip("x\ny", 100)).isEqualTo("x\\ny");
    assertThat(Bounded.list(List.of("a\nb", "c"))).isEqualTo("[a\\nb, c]");
    String message = Bounded.message("line\n".repeat(1000));
    assertThat(message).doesNotContain("\n").hasSize(Bounded.MESSAGE_CHARS).endsWith("...(truncated)");
  }
}
