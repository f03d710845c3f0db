export { createRateLimiter, type RateLimiter } from '@tendril/core';
