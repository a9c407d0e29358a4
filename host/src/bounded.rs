//! Cutting text to a size limit, saying so: how records keep URLs, messages and errors bounded.

/// `text` cut to at most `max` bytes (on a character boundary), ending with a note of the whole
/// length when it was cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[cut: {} bytes in all]", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_a_character_boundary_and_says_so() {
        let long = "é".repeat(100);
        let kept = cut(&long, 51);
        assert!(kept.starts_with(&"é".repeat(25)));
        assert!(kept.ends_with("[cut: 200 bytes in all]"));
        assert_eq!(cut("short", 10), "short");
    }
}
