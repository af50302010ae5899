using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.Mastodon;
using ScheduledPosts.ServiceDefaults.Outbound;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>
/// A claimed target's media, read from the (in-memory) scheduling service under the target's lease and uploaded to
/// a fake Mastodon instance before the status that attaches it.
/// </summary>
public sealed class MediaPublishingTests : IAsyncLifetime
{
    private FakeScheduling _scheduling = null!;
    private FakeMastodon _mastodon = null!;

    public async Task InitializeAsync()
    {
        _scheduling = await FakeScheduling.StartAsync();
        _mastodon = await FakeMastodon.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _scheduling.DisposeAsync();
        await _mastodon.DisposeAsync();
    }

    [Fact]
    public async Task Each_file_is_read_under_the_lease_uploaded_intact_and_attached_to_the_status_in_order()
    {
        byte[] photo = RandomNumberGenerator.GetBytes(5_000);
        byte[] chart = RandomNumberGenerator.GetBytes(2_500);
        _scheduling.Targets.MediaFiles["med_photo"] = photo;
        _scheduling.Targets.MediaFiles["med_chart"] = chart;
        _scheduling.Targets.OnClaim = r => WithMedia(FakeTargetsService.Granted(r, "mastodon", "alice", "Two pictures"),
            Media("med_photo", "photo.png", "image/png", photo.Length, "A photo"), Media("med_chart", "chart.jpg", "image/jpeg", chart.Length, ""));

        var result = await TargetPublisherTests.Publish(_scheduling, [Mastodon()]).PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        var published = Assert.IsType<ConnectorResult.Published>(result);
        var status = Assert.Single(_mastodon.Statuses);
        Assert.Equal(status.Id, published.ExternalId);
        // The status carries exactly the ids the instance gave the uploads, in the post's order, and they hold our bytes.
        var statusRequest = Assert.Single(_mastodon.Requests, r => r.Path == "/api/v1/statuses");
        var uploads = _mastodon.Requests.Where(r => r.Path == "/api/v2/media").ToList();
        Assert.Equal(2, uploads.Count);
        Assert.Equal(status.MediaAttachments.Select(a => a.Id), statusRequest.Form["media_ids[]"]);
        Assert.Equal([Sha256(photo), Sha256(chart)], statusRequest.Form["media_ids[]"].Select(id => _mastodon.MediaSha256[id]));
        Assert.Equal(("photo.png", "image/png", 5_000L), Single(uploads[0]));
        Assert.Equal(("chart.jpg", "image/jpeg", 2_500L), Single(uploads[1]));
        Assert.Equal(["A photo"], uploads[0].Form["description"]);
        Assert.False(uploads[1].Form.ContainsKey("description"));
        Assert.Equal(["med_photo", "med_chart"], _scheduling.Targets.MediaReads.Select(r => r.MediaId));
        Assert.All(_scheduling.Targets.MediaReads, r => Assert.Equal(("tgt_1", "lease_tgt_1"), (r.TargetId, r.LeaseToken)));
        Assert.Equal(status.Id, Assert.Single(_scheduling.Targets.Completions).Published.ExternalPostId);
    }

    [Fact]
    public async Task Media_the_scheduling_service_refuses_to_serve_fails_the_attempt_for_a_retry_and_posts_nothing()
    {
        _scheduling.Targets.MediaFiles["med_photo"] = [0x89, 0x50, 0x4E, 0x47];
        _scheduling.Targets.OnClaim = r =>
        {
            var claim = WithMedia(FakeTargetsService.Granted(r, "mastodon", "alice", "A picture"), Media("med_photo", "photo.png", "image/png", 4, ""));
            claim.Target.LeaseToken = "a-lease-that-ran-out";
            return claim;
        };

        var result = await TargetPublisherTests.Publish(_scheduling, [Mastodon()]).PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        var failed = Assert.IsType<ConnectorResult.Failed>(result);
        Assert.Equal((ConnectorErrors.MediaUnavailable, true, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Contains("PermissionDenied", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_mastodon.Requests);
        Assert.Equal(ConnectorErrors.MediaUnavailable, Assert.Single(_scheduling.Targets.Completions).Failed.ErrorCode);
    }

    [Fact]
    public async Task A_file_that_breaks_off_mid_upload_fails_the_attempt_for_a_retry_and_posts_nothing()
    {
        _scheduling.Targets.MediaFiles["med_photo"] = RandomNumberGenerator.GetBytes(5_000);
        _scheduling.Targets.BreakMediaAfterFirstChunk = true;
        _scheduling.Targets.OnClaim = r => WithMedia(FakeTargetsService.Granted(r, "mastodon", "alice", "A picture"), Media("med_photo", "photo.png", "image/png", 5_000, ""));

        var result = await TargetPublisherTests.Publish(_scheduling, [Mastodon()]).PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        var failed = Assert.IsType<ConnectorResult.Failed>(result);
        Assert.Equal((ConnectorErrors.MediaUnavailable, true, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Empty(_mastodon.Statuses);
        Assert.Empty(_mastodon.MediaSha256);
    }

    private static ClaimTargetResponse WithMedia(ClaimTargetResponse claim, params ClaimedMedia[] media)
    {
        claim.Target.CredentialsJson = FakeMastodon.Credentials();
        claim.Target.Media.Add(media);
        return claim;
    }

    private static ClaimedMedia Media(string id, string filename, string contentType, long size, string altText) => new()
    {
        MediaId = id,
        Filename = filename,
        ContentType = contentType,
        SizeBytes = size,
        Kind = "image",
        AltText = altText,
    };

    private static (string FileName, string ContentType, long Length) Single(MastodonRequest upload)
    {
        var file = Assert.Single(upload.Files);
        Assert.Equal("file", file.Name);
        return (file.FileName, file.ContentType, file.Length);
    }

    private static string Sha256(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    private MastodonConnector Mastodon()
    {
        var options = new MastodonOptions { MediaPollInterval = TimeSpan.FromMilliseconds(10), MediaProcessingTimeout = TimeSpan.FromSeconds(10) };
        return new MastodonConnector(new HttpClient(_mastodon.CreateHandler()), Options.Create(options), new OutboundPolicy(new OutboundOptions()), TimeProvider.System, NullLogger<MastodonConnector>.Instance);
    }
}
