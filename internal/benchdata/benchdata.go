// Package benchdata holds the inputs the embedding benchmarks share (the
// model/bert benchmark and cmd/vkbench), so their figures compare.
package benchdata

// Sentences are 32 ordinary sentences of 5 to 20 words: one embedding
// batch.
var Sentences = []string{
	"The quick brown fox jumps over the lazy dog.",
	"Once upon a time there was a little girl named Lily.",
	"She loved to play outside in the sunshine with her friends.",
	"Embeddings map text to vectors so similar meanings land close together.",
	"The weather forecast says it will rain tomorrow afternoon.",
	"Please remember to buy milk, eggs and bread on the way home.",
	"A good night's sleep improves memory and concentration.",
	"The train to the city leaves every twenty minutes.",
	"He fixed the bicycle with a wrench and some patience.",
	"Our team meeting has been moved to Thursday at ten.",
	"The museum opens a new exhibition about ancient maps next week.",
	"Water boils at one hundred degrees Celsius at sea level.",
	"She wrote a letter to her grandmother every Sunday.",
	"The library is quiet in the early morning.",
	"Add two cups of flour and stir until the batter is smooth.",
	"The cat slept on the warm windowsill all afternoon.",
	"Solar panels turn sunlight into electricity.",
	"They hiked to the top of the hill to watch the sunset.",
	"The software update fixes several security problems.",
	"A small boat drifted slowly across the calm lake.",
	"Reading every day builds a larger vocabulary.",
	"The children laughed as the puppy chased its tail.",
	"Traffic was heavy because of the accident on the bridge.",
	"The recipe calls for fresh basil and ripe tomatoes.",
	"Astronomers discovered a planet orbiting a distant star.",
	"He forgot his umbrella and got soaked in the storm.",
	"The store closes early on public holidays.",
	"Learning a new language takes time and practice.",
	"The garden was full of roses, tulips and daisies.",
	"She scored the winning goal in the final minute.",
	"The old clock in the hall still keeps perfect time.",
	"Fresh coffee smells wonderful in the morning.",
}
