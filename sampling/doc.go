// Package sampling defines how the next token is drawn from logits: the
// parameters, their validation, the order of the steps, the seeded random
// draw, and a CPU implementation. Device backends implement the same chain
// and are tested against Candidates.
//
// The chain, applied to a copy of the logits:
//
//  1. penalties over the last RepeatLastN accepted tokens: a positive logit
//     is divided by RepeatPenalty, a negative one multiplied; then
//     count*FrequencyPenalty + PresencePenalty is subtracted; a Constraint
//     (a grammar, see Constrain) then sets the logits of tokens it does
//     not allow to -Inf, and those are never drawn;
//  2. Temperature 0 picks the largest logit (lowest id on ties) and stops;
//  3. top-k keeps the TopK largest logits (0 keeps all);
//  4. top-p keeps the shortest prefix, in descending order, whose softmax
//     mass (at temperature 1) reaches TopP;
//  5. min-p keeps tokens whose probability is at least MinP times the
//     largest;
//  6. the survivors are weighted exp((logit-max)/Temperature) and one is
//     drawn with the sampler's next uniform number.
//
// Candidates are ordered by descending logit, then ascending id, so every
// backend walks the same order. The uniform numbers come from a
// counter-based generator (splitmix64 of seed and step), so a device can be
// handed the same number the CPU would use.
//
// Logprobs (WantLogprobs) are the log-softmax of the logits after step 1,
// before temperature, as OpenAI defines them.
package sampling
