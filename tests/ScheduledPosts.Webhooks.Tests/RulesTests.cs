using System.Net;
using System.Text.Json;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Webhooks.Deliveries;
using ScheduledPosts.Webhooks.Endpoints;
using ScheduledPosts.Webhooks.Signing;

namespace ScheduledPosts.Webhooks.Tests;

public sealed class RulesTests
{
    [Theory]
    [InlineData("8.8.8.8", true)]
    [InlineData("172.32.0.1", true)]
    [InlineData("2606:4700:4700::1111", true)]
    [InlineData("127.0.0.1", false)]
    [InlineData("10.20.30.40", false)]
    [InlineData("172.16.0.1", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("192.168.1.1", false)]
    [InlineData("169.254.169.254", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("224.0.0.1", false)]
    [InlineData("::1", false)]
    [InlineData("::", false)]
    [InlineData("fe80::1", false)]
    [InlineData("fd12:3456::1", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    public void Only_public_addresses_are_public(string address, bool expected)
        => Assert.Equal(expected, EndpointRules.IsPublic(IPAddress.Parse(address)));

    [Fact]
    public void Http_and_loopback_are_accepted_only_when_configured()
    {
        var strict = new WebhookOptions();
        var relaxed = new WebhookOptions { AllowHttp = true, AllowLoopback = true };

        Assert.NotNull(EndpointRules.CheckUrl("http://127.0.0.1:9000/hook", strict));
        Assert.Null(EndpointRules.CheckUrl("http://127.0.0.1:9000/hook", relaxed));
        Assert.Null(EndpointRules.CheckUrl("https://hooks.example.com/hook", strict));
    }

    [Fact]
    public void A_2xx_delivers_and_a_410_fails_and_disables()
    {
        var now = DateTimeOffset.UnixEpoch;
        Assert.Equal(new DeliveryDecision(DeliveryStatus.Delivered, null), DeliveryRules.Decide(204, 1, WebhookOptions.DefaultRetrySchedule, now));
        Assert.Equal(new DeliveryDecision(DeliveryStatus.Failed, null, DisableEndpoint: true), DeliveryRules.Decide(410, 1, WebhookOptions.DefaultRetrySchedule, now));
    }

    [Fact]
    public void Failures_follow_the_schedule_then_fail()
    {
        var now = DateTimeOffset.UnixEpoch;
        var schedule = WebhookOptions.DefaultRetrySchedule;

        Assert.Equal(now.AddSeconds(5), DeliveryRules.Decide(500, 1, schedule, now).NextAttemptAt);
        Assert.Equal(now.AddMinutes(5), DeliveryRules.Decide(null, 2, schedule, now).NextAttemptAt);
        Assert.Equal(now.AddHours(10), DeliveryRules.Decide(429, 7, schedule, now).NextAttemptAt);
        Assert.Equal(DeliveryStatus.Pending, DeliveryRules.Decide(301, 7, schedule, now).Status);
        Assert.Equal(new DeliveryDecision(DeliveryStatus.Failed, null), DeliveryRules.Decide(500, 8, schedule, now));
    }

    [Fact]
    public void Signatures_match_the_standard_webhooks_test_vector()
        => Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            WebhookSignature.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, """{"test": 2432232314}"""));

    [Fact]
    public void New_secrets_are_32_random_bytes()
    {
        string a = WebhookSignature.NewSecret(), b = WebhookSignature.NewSecret();
        Assert.NotEqual(a, b);
        Assert.Equal(32, Convert.FromBase64String(a["whsec_".Length..]).Length);
    }

    [Fact]
    public void The_payload_carries_the_data_verbatim()
    {
        const string data = """{"id": "post_1",  "caption": "caf\u00e9 <b>", "n": 1.50}""";
        using var document = JsonDocument.Parse(data);
        var e = new PostCancelled
        {
            EventId = "evt_1", Type = "post.cancelled", WorkspaceId = "ws_1", PostId = "post_1", ScheduleVersion = 2,
            OccurredAt = new DateTimeOffset(2026, 5, 25, 15, 0, 0, TimeSpan.FromHours(2)), Data = document.RootElement,
        };

        Assert.Equal($$"""{"id":"evt_1","type":"post.cancelled","timestamp":"2026-05-25T13:00:00.000Z","data":{{data}}}""", WebhookPayload.Build(e));
    }
}
