import { HeartbeatPolicy } from './heartbeat.policy';

describe('adaptive heartbeat', () => {
  it('starts at 60 s and lengthens by 30 s after three surviving intervals, up to 600', () => {
    const p = new HeartbeatPolicy();
    expect(p.seconds).toBe(60);
    p.intervalSurvived();
    p.intervalSurvived();
    expect(p.seconds).toBe(60);
    p.intervalSurvived();
    expect(p.seconds).toBe(90);
    for (let i = 0; i < 200; i++) p.intervalSurvived();
    expect(p.seconds).toBe(600);
  });

  it('steps back one notch on a loss inside an interval and holds there', () => {
    const p = new HeartbeatPolicy(150);
    p.lostInsideInterval();
    expect(p.seconds).toBe(120);
    expect(p.holding).toBe(true);
    for (let i = 0; i < 9; i++) p.intervalSurvived();
    expect(p.seconds).toBe(120);
    p.lostInsideInterval();
    expect(p.seconds).toBe(90);
  });

  it('lengthens only on intervals it has tested: surviving a shorter one does not count', () => {
    const p = new HeartbeatPolicy(60);
    for (let i = 0; i < 3; i++) p.intervalSurvived(60);
    expect(p.seconds).toBe(90);
    // The connection stays held to 60 s by the server: 90 was never tried, so it stays the proposal.
    for (let i = 0; i < 50; i++) p.intervalSurvived(60);
    expect(p.seconds).toBe(90);
    // The next connection proposes 90 and survives it three times.
    for (let i = 0; i < 3; i++) p.intervalSurvived(90);
    expect(p.seconds).toBe(120);
  });

  it('never goes below 30 or above 600', () => {
    const low = new HeartbeatPolicy(10);
    expect(low.seconds).toBe(30);
    low.lostInsideInterval();
    expect(low.seconds).toBe(30);
    expect(new HeartbeatPolicy(9999).seconds).toBe(600);
  });
});
