"""Training: the recipe's optimiser and schedule, random crops on the device, the step and the loop."""
