using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Outbound;
using ScheduledPosts.Webhooks.Deliveries;
using ScheduledPosts.Webhooks.Endpoints;
using ScheduledPosts.Webhooks.Signing;

namespace ScheduledPosts.Webhooks.Tests;

public sealed class RulesTests
{
    private static readonly OutboundPolicy Strict = new(new OutboundOptions());

    [Theory]
    [InlineData("8.8.8.8", true)]
    [InlineData("172.32.0.1", true)]
    [InlineData("2606:4700:4700::1111", true)]
    [InlineData("64:ff9b::808:808", true)]          // NAT64 of 8.8.8.8
    [InlineData("127.0.0.1", false)]
    [InlineData("10.20.30.40", false)]
    [InlineData("172.16.0.1", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("192.168.1.1", false)]
    [InlineData("169.254.169.254", false)]          // AWS, Azure, GCP metadata
    [InlineData("100.100.100.200", false)]          // Alibaba metadata (shared address space)
    [InlineData("192.0.0.192", false)]              // Oracle metadata
    [InlineData("fd00:ec2::254", false)]            // AWS metadata over IPv6
    [InlineData("100.64.0.1", false)]
    [InlineData("198.18.0.1", false)]
    [InlineData("192.0.2.2", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("224.0.0.1", false)]
    [InlineData("255.255.255.255", false)]
    [InlineData("::1", false)]
    [InlineData("::", false)]
    [InlineData("fe80::1", false)]
    [InlineData("fd12:3456::1", false)]
    [InlineData("ff02::1", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    [InlineData("::127.0.0.1", false)]              // IPv4-compatible
    [InlineData("64:ff9b::a00:1", false)]           // NAT64 of 10.0.0.1
    [InlineData("2002:7f00:1::", false)]            // 6to4 of 127.0.0.1
    public void Only_public_unicast_addresses_are_public(string address, bool expected)
        => Assert.Equal(expected, OutboundPolicy.IsPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("https://127.0.0.1/x")]
    [InlineData("https://2130706433/x")]            // 127.0.0.1 as one number
    [InlineData("https://0x7f000001/x")]
    [InlineData("https://127.1/x")]
    [InlineData("https://[::ffff:127.0.0.1]/x")]
    [InlineData("https://localhost/x")]
    [InlineData("https://LOCALHOST./x")]
    [InlineData("https://api.localhost/x")]
    [InlineData("https://169.254.169.254/latest/meta-data")]
    [InlineData("https://[fe80::1]/x")]
    [InlineData("https://224.0.0.1/x")]
    public void Loopback_private_link_local_multicast_and_metadata_urls_are_refused(string url)
        => Assert.NotNull(Strict.CheckUrl(url));

    [Fact]
    public void Http_loopback_and_allow_listed_networks_are_accepted_only_when_configured()
    {
        var relaxed = new OutboundPolicy(new OutboundOptions { AllowHttp = true, AllowLoopback = true });
        var allowList = new OutboundPolicy(new OutboundOptions { AllowedNetworks = ["10.1.0.0/16", "fd00:1::/32"] });

        Assert.Null(Strict.CheckUrl("https://hooks.example.com/hook"));
        Assert.Equal("url must use https.", Strict.CheckUrl("http://hooks.example.com/hook"));
        Assert.NotNull(Strict.CheckUrl("https://user:password@hooks.example.com/hook"));
        Assert.Null(relaxed.CheckUrl("http://127.0.0.1:9000/hook"));
        Assert.Null(relaxed.CheckUrl("http://localhost:9000/hook"));
        Assert.NotNull(relaxed.CheckUrl("http://10.1.2.3/hook"));           // loopback, not every private network
        Assert.Null(allowList.CheckUrl("https://10.1.2.3/hook"));
        Assert.Null(allowList.CheckUrl("https://[fd00:1::5]/hook"));
        Assert.True(allowList.Allows(IPAddress.Parse("::ffff:10.1.0.9")));
        Assert.NotNull(allowList.CheckUrl("https://10.2.0.1/hook"));
        Assert.NotNull(allowList.CheckUrl("https://127.0.0.1/hook"));
    }

    [Fact]
    public void Configured_networks_must_be_cidr()
    {
        Assert.True(OutboundPolicy.AreValidNetworks(["10.0.0.0/8", "::1/128"]));
        Assert.False(OutboundPolicy.AreValidNetworks(["10.0.0.0/8", "intranet"]));
    }

    [Fact]
    public void A_2xx_delivers_and_a_410_fails()
    {
        var now = DateTimeOffset.UnixEpoch;
        Assert.Equal(new DeliveryDecision(DeliveryStatus.Delivered, null), DeliveryRules.Decide(204, 1, WebhookOptions.DefaultRetrySchedule, now));
        Assert.Equal(new DeliveryDecision(DeliveryStatus.Failed, null), DeliveryRules.Decide(410, 1, WebhookOptions.DefaultRetrySchedule, now));
    }

    [Fact]
    public void Failures_follow_the_schedule_then_fail()
    {
        var now = DateTimeOffset.UnixEpoch;
        var schedule = WebhookOptions.DefaultRetrySchedule;

        Assert.Equal(now.AddSeconds(5), DeliveryRules.Decide(500, 1, schedule, now).NextAttemptAt);
        Assert.Equal(now.AddMinutes(5), DeliveryRules.Decide(null, 2, schedule, now).NextAttemptAt);
        Assert.Equal(now.AddMinutes(30), DeliveryRules.Decide(503, 3, schedule, now).NextAttemptAt);
        Assert.Equal(now.AddHours(2), DeliveryRules.Decide(503, 4, schedule, now).NextAttemptAt);
        Assert.Equal(now.AddHours(5), DeliveryRules.Decide(503, 5, schedule, now).NextAttemptAt);
        Assert.Equal(now.AddHours(10), DeliveryRules.Decide(503, 6, schedule, now).NextAttemptAt);
        Assert.Equal(now.AddHours(10), DeliveryRules.Decide(429, 7, schedule, now).NextAttemptAt);
        Assert.Equal(DeliveryStatus.Pending, DeliveryRules.Decide(301, 7, schedule, now).Status);
        Assert.Equal(new DeliveryDecision(DeliveryStatus.Failed, null), DeliveryRules.Decide(500, 8, schedule, now));
    }

    [Fact]
    public void An_endpoint_is_disabled_on_410_or_after_failing_every_attempt_for_the_configured_time()
    {
        var now = new DateTimeOffset(2026, 5, 25, 12, 0, 0, TimeSpan.Zero);
        var fiveDays = TimeSpan.FromDays(5);

        Assert.Equal("The endpoint answered 410 Gone.", DeliveryRules.DisableReason(410, null, now, fiveDays));
        Assert.Null(DeliveryRules.DisableReason(500, now.AddDays(-4.9), now, fiveDays));
        Assert.Null(DeliveryRules.DisableReason(500, null, now, fiveDays));
        Assert.Null(DeliveryRules.DisableReason(200, now.AddDays(-6), now, fiveDays)); // this attempt succeeded
        Assert.Null(DeliveryRules.DisableReason(500, now, now, fiveDays));              // the first failure
        Assert.Equal("Every attempt failed since 2026-05-20T12:00:00Z (5 days or more).", DeliveryRules.DisableReason(null, now.AddDays(-5), now, fiveDays));
    }

    [Fact]
    public void The_previous_secret_signs_only_until_its_overlap_ends()
    {
        var now = DateTimeOffset.UnixEpoch.AddDays(1);
        var rotating = new EndpointSecrets("whsec_new", "whsec_old", now.AddSeconds(1));

        Assert.Equal(["whsec_new", "whsec_old"], rotating.SigningAt(now));
        Assert.Equal(["whsec_new"], rotating.SigningAt(now.AddSeconds(1)));
        Assert.Equal(["whsec_new"], new EndpointSecrets("whsec_new", null, null).SigningAt(now));
        Assert.DoesNotContain("whsec", rotating.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Signatures_match_the_standard_webhooks_test_vector()
        => Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            WebhookSignature.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, """{"test": 2432232314}"""));

    [Fact]
    public void The_signature_header_carries_one_signature_per_secret()
    {
        string a = WebhookSignature.NewSecret(), b = WebhookSignature.NewSecret();

        string header = WebhookSignature.Header([a, b], "evt_1", 1614265330, "{}");

        Assert.Equal([WebhookSignature.Sign(a, "evt_1", 1614265330, "{}"), WebhookSignature.Sign(b, "evt_1", 1614265330, "{}")], header.Split(' '));
    }

    [Fact]
    public void New_secrets_are_32_random_bytes()
    {
        string a = WebhookSignature.NewSecret(), b = WebhookSignature.NewSecret();
        Assert.NotEqual(a, b);
        Assert.Equal(32, Convert.FromBase64String(a["whsec_".Length..]).Length);
    }

    [Fact]
    public void Protected_secrets_decrypt_only_with_the_key_and_for_the_endpoint_they_belong_to()
    {
        var protector = new SecretProtector(Options.Create(new WebhookOptions { SecretKey = WebhooksApp.TestSecretKey }));
        var otherKey = new SecretProtector(Options.Create(new WebhookOptions { SecretKey = Convert.ToBase64String(new byte[32]) }));
        var noKey = new SecretProtector(Options.Create(new WebhookOptions()));
        string secret = WebhookSignature.NewSecret();

        string stored = protector.Protect(secret, "we_1");

        Assert.StartsWith("aesgcm1:", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(secret["whsec_".Length..], stored, StringComparison.Ordinal);
        Assert.NotEqual(stored, protector.Protect(secret, "we_1"));
        Assert.Equal(secret, protector.Unprotect(stored, "we_1"));
        Assert.Throws<InvalidOperationException>(() => protector.Unprotect(stored, "we_2"));
        Assert.Throws<InvalidOperationException>(() => otherKey.Unprotect(stored, "we_1"));
        Assert.Throws<InvalidOperationException>(() => noKey.Unprotect(stored, "we_1"));
        Assert.Equal(secret, noKey.Protect(secret, "we_1"));
        Assert.Equal(secret, protector.Unprotect(secret, "we_1")); // stored before a key was configured
        Assert.True(SecretProtector.IsValidKey(WebhooksApp.TestSecretKey));
        Assert.False(SecretProtector.IsValidKey("c2hvcnQ="));
    }

    [Theory]
    [InlineData("Production", "", false)]
    [InlineData("Production", WebhooksApp.TestSecretKey, true)]
    [InlineData("Development", "", true)]
    public void Production_refuses_to_start_without_a_key_for_the_signing_secrets(string environment, string secretKey, bool starts)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = environment });
        builder.Configuration["Webhooks:SecretKey"] = secretKey;
        // Named, never reached: only the options are resolved.
        builder.Configuration["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=1;Username=nobody;Database=none";
        builder.Configuration["RabbitMq:Host"] = "127.0.0.1";
        builder.AddWebhooksServices();
        using var app = builder.Build();

        var options = () => app.Services.GetRequiredService<IOptions<WebhookOptions>>().Value;

        if (starts)
        {
            Assert.Equal(secretKey, options().SecretKey ?? "");
        }
        else
        {
            var refused = Assert.Throws<OptionsValidationException>(options);
            Assert.Contains("Webhooks:SecretKey is required in Production", refused.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Listing_parameters_are_checked_and_cursors_round_trip()
    {
        Assert.Equal(new DeliveryQuery(null, 50, null), DeliveryRules.ParseQuery(null, null, null));
        var last = new DeliveryCursor(new DateTimeOffset(2026, 5, 25, 13, 0, 0, TimeSpan.Zero).AddTicks(1234560), "dlv_01J");
        Assert.Equal(new DeliveryQuery("failed", 100, last), DeliveryRules.ParseQuery("failed", "100", DeliveryRules.EncodeCursor(last)));

        var error = Assert.Throws<ApiException>(() => DeliveryRules.ParseQuery("lost", "0", "not-a-cursor"));

        Assert.Equal(422, error.Status);
        Assert.Equal(["status", "limit", "cursor"], error.Issues!.Select(i => i.Path));
        Assert.Throws<ApiException>(() => DeliveryRules.ParseQuery(null, "101", null));
        Assert.Throws<ApiException>(() => DeliveryRules.ParseQuery(null, "-1", null));
        Assert.Throws<ApiException>(() => DeliveryRules.ParseQuery(null, "ten", null));
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

        Assert.Equal($$"""{"id":"evt_1","type":"post.cancelled","timestamp":"2026-05-25T13:00:00.000Z","data":{{data}}}""", WebhookPayload.Build(IncomingEvent.From(e)));
    }

    [Fact]
    public void An_account_event_carries_the_account_as_the_api_shows_it_and_a_post_event_a_post()
    {
        var account = TestApi.NewAccountEvent("ws_1");
        var unnamed = account with { Data = JsonSerializer.SerializeToElement(new
        {
            id = account.AccountId, platform = "bluesky", handle = "alice.bsky.social", displayName = (string?)null,
            status = "reauth_required", createdAt = "2026-05-01T09:30:00.000Z",
        }) };
        var post = TestApi.NewEvent("ws_1");

        Assert.Null(EventRules.Problem(IncomingEvent.From(account)));
        Assert.Null(EventRules.Problem(IncomingEvent.From(unnamed)));
        Assert.Null(EventRules.Problem(IncomingEvent.From(post)));
        Assert.Equal("unknown account event type 'post.cancelled'", EventRules.Problem(IncomingEvent.From(account with { Type = "post.cancelled" })));
        Assert.Equal("unknown post event type 'account.reauth_required'", EventRules.Problem(IncomingEvent.From(post with { Type = "account.reauth_required" })));
        Assert.Equal("data is not the event's account", EventRules.Problem(IncomingEvent.From(account with { Data = post.Data })));
    }
}
