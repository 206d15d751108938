import { Module } from '@nestjs/common';
import { SCHEDULE_CLOCK, systemClock } from '@herald/schedules';
import { AppAuthGuard } from '../auth/app-auth.guard';
import { AppDirectory } from '../auth/app-directory';
import { CampaignService } from './campaign.service';
import { ScheduleController } from './schedule.controller';
import { ScheduleService } from './schedule.service';

/**
 * JPush's Schedule API and the campaign service. `CampaignService` is exported for the dashboard's
 * controllers; `SCHEDULE_CLOCK` is the time creation and updates plan from (tests override it).
 */
@Module({
  controllers: [ScheduleController],
  providers: [
    { provide: SCHEDULE_CLOCK, useValue: systemClock },
    AppAuthGuard,
    // Its own cache of app keys (the guard's dependency); ten seconds, like the API module's.
    AppDirectory,
    ScheduleService,
    CampaignService,
  ],
  exports: [SCHEDULE_CLOCK, ScheduleService, CampaignService],
})
export class SchedulesModule {}
