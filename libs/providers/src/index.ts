export type { DeliveryOutcome, OutcomeKind } from './outcome';
