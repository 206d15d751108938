import { Module } from '@nestjs/common';
import { SCHEDULE_CLOCK, systemClock } from '@herald/schedules';
import { AppAuthModule } from '../auth/app-auth.module';
import { CampaignService } from './campaign.service';
import { ScheduleController } from './schedule.controller';
import { ScheduleService } from './schedule.service';

/**
 * JPush's Schedule API and the campaign service. `CampaignService` is exported for the dashboard's
 * controllers; `SCHEDULE_CLOCK` is the time creation and updates plan from (tests override it).
 */
@Module({
  // The API module's app-key cache, not a copy of its own: a rotated secret stops here too.
  imports: [AppAuthModule],
  controllers: [ScheduleController],
  providers: [{ provide: SCHEDULE_CLOCK, useValue: systemClock }, ScheduleService, CampaignService],
  exports: [SCHEDULE_CLOCK, ScheduleService, CampaignService],
})
export class SchedulesModule {}
