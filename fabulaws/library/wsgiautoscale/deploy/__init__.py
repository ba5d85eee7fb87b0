"""The deploy engine: operations as named, journaled steps with waits that end, and a way back."""
