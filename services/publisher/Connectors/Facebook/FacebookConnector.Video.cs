using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using ScheduledPosts.Contracts.Platforms;
using static ScheduledPosts.Publisher.Connectors.ConnectorResult;

namespace ScheduledPosts.Publisher.Connectors.Facebook;

/// <summary>A video post: <c>POST /{page-id}/videos</c>, its processing, and its lookup (README.md).</summary>
public sealed partial class FacebookConnector
{
    private const string VideoType = "video/mp4";

    private static bool IsVideo(UploadMedia media) => MediaKind.Of(media.ContentType) == MediaKind.Video;

    /// <summary>
    /// POST /{page-id}/videos with the file as <c>source</c> and the text as <c>description</c>: this publishes the video on
    /// the Page, so a lost answer is an unknown outcome. Then its status until Facebook has processed it.
    /// </summary>
    private async Task<ConnectorResult> PublishVideoAsync(Account account, Upload upload, UploadMedia media, CancellationToken cancellationToken)
    {
        var created = await SendAsync(async () =>
        {
            var source = await SourceAsync(media, cancellationToken);
            var form = new MultipartFormDataContent
            {
                { new StringContent(account.AccessToken), "access_token" },
                { new StringContent(upload.Text), "description" },
                { source, "source", media.FileName },
            };
            return new HttpRequestMessage(HttpMethod.Post, Url($"{account.PageId}/videos")) { Content = form };
        }, posting: true, $"the video {media.FileName}", cancellationToken);
        if (created.Value?["id"]?.GetValue<string>() is not { Length: > 0 } videoId)
        {
            return created.Failure ?? Unknown(ConnectorErrors.PlatformError, "Facebook answered the video's upload without a video id.");
        }

        return await WaitForVideoAsync(account, videoId, media.FileName, cancellationToken);
    }

    /// <summary>
    /// GET /{video-id}?fields=status,permalink_url until <c>status.video_status</c> is <c>ready</c>; <c>error</c> is
    /// Facebook's refusal (the reason from <c>processing_phase.errors</c>); past the bound, <c>MEDIA_NOT_READY</c>.
    /// </summary>
    private async Task<ConnectorResult> WaitForVideoAsync(Account account, string videoId, string fileName, CancellationToken cancellationToken)
    {
        var giveUpAt = clock.GetUtcNow() + _options.MediaProcessingTimeout;
        while (true)
        {
            var read = await SendAsync(() => Get($"{Uri.EscapeDataString(videoId)}?fields=status,permalink_url", account), posting: false,
                $"the status of the video {fileName}", cancellationToken);
            if (read.Value is not { } video)
            {
                return read.Failure!;
            }

            switch (video["status"]?["video_status"]?.GetValue<string>())
            {
                case "ready":
                    return new Published(videoId, VideoPermalink(video, account, videoId));
                case "error":
                    string? reason = ScheduledPosts.ServiceDefaults.Outbound.PlatformErrorText.Sanitise(
                        video["status"]?["processing_phase"]?["errors"]?[0]?["message"] is JsonValue m && m.TryGetValue(out string? message) ? message : null);
                    return new Failed(ConnectorErrors.Rejected,
                        $"Facebook could not process the video {fileName}{(reason is { Length: > 0 } ? $": {reason}" : "")}.", Retryable: false);
            }

            if (clock.GetUtcNow() + _options.MediaPollInterval > giveUpAt)
            {
                // The video is on the Page and may still come through: the lookup before a retry finds it then.
                return new Failed(ConnectorErrors.MediaNotReady,
                    $"Facebook had not finished processing the video {fileName} within {_options.MediaProcessingTimeout.TotalSeconds:0.#} s.", Retryable: true);
            }

            await Task.Delay(_options.MediaPollInterval, clock, cancellationToken);
        }
    }

    /// <summary>
    /// The Page's videos (GET /{page-id}/videos, newest first) since the first attempt: one whose description is the
    /// upload's text and whose processing did not fail.
    /// </summary>
    private async Task<ConnectorResult?> FindEarlierVideoAsync(Account account, Upload upload, DateTimeOffset since, CancellationToken cancellationToken)
    {
        string? after = null;
        for (int page = 0; page < _options.LookupPages; page++)
        {
            string query = "fields=id,description,created_time,permalink_url,status&limit=25" + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}");
            var videos = await SendAsync(() => Get($"{account.PageId}/videos?{query}", account), posting: false, "the Page's videos", cancellationToken);
            if (videos.Value is null)
            {
                return videos.Failure! with { Message = $"Looking for an earlier attempt's video failed: {videos.Failure!.Message}" };
            }

            foreach (var item in (videos.Value["data"] as JsonArray ?? []).OfType<JsonObject>())
            {
                if (!(item["created_time"] is JsonValue created && created.TryGetValue(out string? time) && GraphTime(time) is { } at))
                {
                    continue;
                }

                if (at < since)
                {
                    return null;
                }

                if (SameText(item["description"] is JsonValue description && description.TryGetValue(out string? text) ? text : "", upload.Text)
                    && item["status"]?["video_status"]?.GetValue<string>() != "error"
                    && item["id"]?.GetValue<string>() is { Length: > 0 } id)
                {
                    Log.FoundEarlier(logger, upload.TargetId, id);
                    return new Published(id, VideoPermalink(item, account, id));
                }
            }

            after = videos.Value["paging"]?["next"] is null ? null : videos.Value["paging"]?["cursors"]?["after"]?.GetValue<string>();
            if (after is null)
            {
                return null;
            }
        }

        return null;
    }

    // Graph writes times as 2026-12-03T06:00:00+0000.
    private static DateTimeOffset? GraphTime(string time)
        => time.Length > 5 && time[^5] is '+' or '-'
           && DateTimeOffset.TryParseExact(time.Insert(time.Length - 2, ":"), "yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture, DateTimeStyles.None, out var at)
            ? at
            : null;

    // Graph gives a video's permalink_url relative to facebook.com.
    private static string VideoPermalink(JsonObject video, Account account, string videoId)
        => video["permalink_url"] is JsonValue value && value.TryGetValue(out string? url) && url.Length > 0
            ? url.StartsWith('/') ? $"https://www.facebook.com{url}" : url
            : $"https://www.facebook.com/{account.PageId}/videos/{Uri.EscapeDataString(videoId)}/";
}
