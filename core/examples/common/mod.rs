//! Shared by the examples: a tokenizer from one of OpenAI's rank files.

use bpekit::{Pattern, Tokenizer, CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN};

/// The tokenizer of the `.tiktoken` file at `path`, with the split pattern its name
/// says (`o200k...`, `r50k...`, else cl100k's).
pub fn openai_tokenizer(path: &str) -> Tokenizer {
    let pat = if path.contains("o200k") {
        O200K_PATTERN
    } else if path.contains("r50k") {
        GPT2_PATTERN
    } else {
        CL100K_PATTERN
    };
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Tokenizer::from_tiktoken(&data, Pattern::new(pat).expect("named pattern")).expect("a valid rank file")
}
