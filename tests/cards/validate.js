// Validate Adaptive Cards with Microsoft's own renderer library (the `adaptivecards` npm
// package): reads a JSON list of cards on stdin, prints a JSON list of problems per card.
const AC = require("adaptivecards/dist/adaptivecards.js");

const cards = JSON.parse(require("fs").readFileSync(0, "utf8"));
const problems = cards.map((json) => {
  const card = new AC.AdaptiveCard();
  const context = new AC.SerializationContext(new AC.Version(1, 5));
  card.parse(json, context);
  const found = [];
  for (let i = 0; i < context.eventCount; i++) found.push(context.getEventAt(i).message);
  for (const event of card.validateProperties().validationEvents) found.push(event.message);
  return found;
});
process.stdout.write(JSON.stringify(problems));
