import { AppCredentialEntity, AppEntity } from './app.entity';
import { CampaignEntity } from './campaign.entity';
import { DeviceEntity } from './device.entity';
import { InvitationEntity } from './invitation.entity';
import {
  DeliveryEntity,
  MessageCounterEntity,
  MessageEntity,
  MessageFailureEntity,
  MessageShardEntity,
} from './message.entity';
import {
  AuditLogEntity,
  CallbackEventEntity,
  DeviceReceiptEntity,
  FeedbackEventEntity,
  IdempotencyRecordEntity,
  WebhookEventEntity,
} from './record.entity';
import { ScheduleEntity, ScheduleFireEntity, SegmentEntity } from './schedule.entity';
import { AuthTokenEntity, MembershipEntity, TenantEntity, UserEntity } from './tenant.entity';

export * from './app.entity';
export * from './campaign.entity';
export * from './device.entity';
export * from './invitation.entity';
export * from './message.entity';
export * from './record.entity';
export * from './schedule.entity';
export * from './tenant.entity';

export const entities = [
  TenantEntity,
  UserEntity,
  MembershipEntity,
  AuthTokenEntity,
  AppEntity,
  AppCredentialEntity,
  DeviceEntity,
  MessageEntity,
  MessageShardEntity,
  MessageCounterEntity,
  MessageFailureEntity,
  DeliveryEntity,
  SegmentEntity,
  ScheduleEntity,
  ScheduleFireEntity,
  FeedbackEventEntity,
  IdempotencyRecordEntity,
  AuditLogEntity,
  DeviceReceiptEntity,
  CallbackEventEntity,
  WebhookEventEntity,
  InvitationEntity,
  CampaignEntity,
];
